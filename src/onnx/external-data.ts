// Appends initializer bytes to one external-data file per graph, sequentially, hashing as it
// writes so the manifest's checksum costs no second read of a multi-gigabyte file.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { AppError } from '../shared/errors.ts';

/** Offsets aligned to a page so ONNX Runtime may memory-map the weights. */
const ALIGN = 4096;

export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

export class ExternalDataWriter {
  readonly path: string;
  readonly location: string;
  private fd: number;
  private pos = 0;
  private readonly hash: Hash = createHash('sha256');

  constructor(path: string) {
    this.path = path;
    this.location = basename(path);
    try {
      this.fd = openSync(path, 'w');
    } catch (cause) {
      throw new AppError('io_error', `cannot create weights file: ${(cause as Error).message}`, { file: path, cause });
    }
  }

  get bytesWritten(): number {
    return this.pos;
  }

  append(bytes: Uint8Array): ExternalRef {
    const pad = (ALIGN - (this.pos % ALIGN)) % ALIGN;
    if (pad) this.write(new Uint8Array(pad));
    const offset = this.pos;
    this.write(bytes);
    return { location: this.location, offset, length: bytes.byteLength };
  }

  /** Closes the file and returns its sha256 (hex). */
  finish(): string {
    closeSync(this.fd);
    return this.hash.digest('hex');
  }

  private write(bytes: Uint8Array): void {
    let done = 0;
    try {
      while (done < bytes.byteLength) done += writeSync(this.fd, bytes, done, bytes.byteLength - done);
    } catch (cause) {
      // ENOSPC and friends: the temp folder is discarded by the caller, nothing valid-looking stays.
      throw new AppError('io_error', `cannot write weights: ${(cause as Error).message}`, { file: this.path, cause });
    }
    this.hash.update(bytes);
    this.pos += bytes.byteLength;
  }
}
