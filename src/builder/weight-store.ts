// The transformed weights of a streamed conversion: each graph part's external-data file, appended
// to as tensors arrive (page-aligned, any order), plus an index name → place. Small outputs stay in
// memory and end up inline in the graph. Every append is described by a record that can be
// journaled, so a killed conversion reopens the files at their recorded lengths and carries on.
import { closeSync, ftruncateSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { type DataType, type GraphBuilder, INLINE_LIMIT } from '../onnx/graph-builder.ts';
import type { TensorShapes } from './onnx/layers.ts';
import type { Recipe, Weights } from './onnx/weights.ts';

/** Offsets aligned to a page so ONNX Runtime may memory-map the weights. */
export const ALIGN = 4096;

export interface StoredOutput {
  part: string;
  name: string;
  type: DataType;
  dims: number[];
  length: number;
  /** Position in the part's data file; absent for inline outputs. */
  offset?: number;
  /** Inline bytes, base64 (outputs of at most INLINE_LIMIT bytes). */
  inline?: string;
}

export const dataFileOf = (part: string) => `${part}.onnx.data`;

export class WeightStore {
  private readonly fds = new Map<string, number>();
  private readonly lengths = new Map<string, number>();
  private readonly index = new Map<string, StoredOutput>();

  /** Opens (creating) each part's data file; `lengths` (resume) truncates them to what was journaled. */
  constructor(readonly dir: string, parts: readonly string[], lengths?: Record<string, number>) {
    for (const part of parts) {
      const path = join(dir, dataFileOf(part));
      try {
        const fd = openSync(path, lengths ? 'a+' : 'w');
        closeSync(fd);
        const rw = openSync(path, 'r+');
        const len = lengths?.[part] ?? 0;
        ftruncateSync(rw, len);
        this.fds.set(part, rw);
        this.lengths.set(part, len);
      } catch (cause) {
        this.close();
        throw new AppError('io_error', `cannot open weights file: ${(cause as Error).message}`, { file: path, cause });
      }
    }
  }

  /** Appends one output; returns its record (for the journal). */
  put(part: string, name: string, type: DataType, dims: number[], bytes: Uint8Array): StoredOutput {
    const key = `${part}\0${name}`;
    const known = this.index.get(key);
    if (known) return known;
    let rec: StoredOutput;
    if (bytes.byteLength <= INLINE_LIMIT) {
      rec = { part, name, type, dims, length: bytes.byteLength, inline: Buffer.from(bytes).toString('base64') };
    } else {
      const fd = this.fds.get(part);
      if (fd === undefined) throw new Error(`no data file for graph part "${part}"`);
      let pos = this.lengths.get(part)!;
      pos += (ALIGN - (pos % ALIGN)) % ALIGN;
      this.writeAt(part, fd, bytes, pos);
      this.lengths.set(part, pos + bytes.byteLength);
      rec = { part, name, type, dims, length: bytes.byteLength, offset: pos };
    }
    this.index.set(key, rec);
    return rec;
  }

  /** Takes back a journaled record without writing (resume). */
  restore(rec: StoredOutput): void {
    this.index.set(`${rec.part}\0${rec.name}`, rec);
  }

  dataLengths(): Record<string, number> {
    return Object.fromEntries(this.lengths);
  }

  /** Flushes the data files to the disk (called at journal checkpoints, not per tensor). */
  sync(): void {
    for (const fd of this.fds.values()) fsyncSync(fd);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  /** A Weights that adds the stored outputs of `part` to a graph; names a tensor that never arrived. */
  weightsFor(part: string, shapes: TensorShapes): Weights {
    return {
      use: (g: GraphBuilder, source: string, recipe: Recipe) => recipe.outputs(source, shapes.shape(source)).map(({ name }) => {
        const rec = this.index.get(`${part}\0${name}`);
        if (!rec) throw new AppError('checkpoint_invalid', `tensor "${source}" was never received (needed by the ${part} graph)`);
        if (rec.inline !== undefined) return g.tensor(name, rec.type, Buffer.from(rec.inline, 'base64'), rec.dims);
        return g.external(name, rec.type, rec.dims, { location: dataFileOf(part), offset: rec.offset!, length: rec.length });
      }),
    };
  }

  private writeAt(part: string, fd: number, bytes: Uint8Array, pos: number): void {
    let done = 0;
    try {
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, pos + done);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new AppError(code === 'ENOSPC' ? 'disk_full' : 'io_error',
        code === 'ENOSPC' ? 'the disk is full' : `cannot write weights: ${(cause as Error).message}`,
        { file: join(this.dir, dataFileOf(part)), cause });
    }
  }
}
