// Hugging Face safetensors reader. Only the JSON header is read at open; each tensor is then read
// by a positional read of exactly its bytes, because real shards reach 15 GB and the converter
// wants one tensor in memory at a time. Every header claim is checked against the file up front,
// so a broken or lying checkpoint fails at open with a message naming the file, never mid-build.
// Tensor reads are synchronous (readSync on the handle's fd). Conversion itself streams each file
// in order (safetensors-stream.ts); random reads serve tests and small tools.
import { existsSync, readSync } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { AppError } from '../shared/errors.ts';

/** Bytes per element. Only the float types convert to float32; the rest are accepted so that
 * checkpoints carrying integer buffers (position ids, masks) still open. */
export const dtypeSize = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
export type Dtype = keyof typeof dtypeSize;

export interface TensorInfo { dtype: Dtype; shape: number[]; byteLength: number }

export interface Entry extends TensorInfo {
  begin: number; // absolute file position of the first byte
}

const MAX_HEADER = 100 * 1024 * 1024;
// readSync refuses lengths above 2 GiB - 1; larger tensors are read in slices.
const READ_SLICE = 1 << 30;
const BIG_ENDIAN = endianness() === 'BE';

function isDtype(d: unknown): d is Dtype {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(dtypeSize, d);
}
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Reads and parses a JSON file, with errors that name the file and say what it was for. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch((cause) => { throw openError(cause, what, path); });
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new AppError('checkpoint_invalid', `${what} is not valid JSON: ${(cause as Error).message}`, { file: path, cause });
  }
}

function openError(cause: unknown, what: string, path: string): AppError {
  const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
  return new AppError(missing ? 'checkpoint_invalid' : 'io_error',
    missing ? `${what} not found` : `cannot read ${what}: ${(cause as Error).message}`, { file: path, cause });
}

export class SafetensorsFile {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly entries: Map<string, Entry>,
    readonly metadata: Record<string, unknown>,
    /** File size in bytes when opened. */
    readonly size: number,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const fh = await open(path, 'r').catch((cause) => { throw openError(cause, 'safetensors file', path); });
    try {
      const { entries, metadata, size } = await readHeader(fh, path);
      return new SafetensorsFile(path, fh, entries, metadata, size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Every tensor with its absolute byte range, for reading the file as one sequential stream. */
  layout(): Map<string, Entry> {
    return new Map(this.entries);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const { dtype, shape, byteLength } = this.entry(name);
    return { dtype, shape: [...shape], byteLength };
  }

  /** Exactly the tensor's bytes, in file (little-endian) order. */
  readRaw(name: string): Buffer {
    const bytes = this.readBytes(this.entry(name), name);
    return Buffer.from(bytes.buffer, 0, bytes.byteLength);
  }

  /** The tensor as float32: F32 as stored, F16/BF16/F64 converted; integer dtypes are refused. */
  readFloat32(name: string): Float32Array {
    const e = this.entry(name);
    checkFloat(e.dtype, name, this.path);
    return decodeFloat32(e.dtype, this.readBytes(e, name));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new AppError('tensor_missing', `tensor "${name}" is not in this file`, { file: this.path });
    return e;
  }

  /** A fresh ArrayBuffer per read, so typed-array views over it are aligned. */
  private readBytes(e: Entry, name: string): Uint8Array {
    if (this.closed) throw new AppError('io_error', `cannot read tensor "${name}": file already closed`, { file: this.path });
    const dst = new Uint8Array(new ArrayBuffer(e.byteLength));
    const position = e.begin;
    let done = 0;
    while (done < dst.byteLength) {
      let got: number;
      try {
        got = readSync(this.fh.fd, dst, done, Math.min(READ_SLICE, dst.byteLength - done), position + done);
      } catch (cause) {
        throw new AppError('io_error', `reading tensor "${name}" failed: ${(cause as Error).message}`, { file: this.path, cause });
      }
      if (got === 0) {
        throw new AppError('checkpoint_invalid',
          `truncated: tensor "${name}" needs bytes up to ${position + dst.byteLength} but the file ended at ${position + done} (did it change while open?)`, { file: this.path });
      }
      done += got;
    }
    return dst;
  }
}

/** Refuses integer tensors where float weights are expected, naming the tensor and file. */
export function checkFloat(dtype: Dtype, name: string, file: string): void {
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16' && dtype !== 'F64') {
    throw new AppError('checkpoint_unsupported',
      `tensor "${name}" has dtype ${dtype}; only F32, F16, BF16 and F64 tensors can be converted to float32`, { file });
  }
}

/**
 * A float tensor's file bytes (little-endian) as float32. `raw` must start at offset 0 of its own
 * buffer (F32 is returned as a view over it; big-endian hosts swap it in place).
 */
export function decodeFloat32(dtype: Dtype, raw: Uint8Array, into?: Float32Array): Float32Array {
  const size = dtypeSize[dtype];
  // Typed arrays use host byte order; the file is little-endian.
  if (BIG_ENDIAN) swapBytes(raw, size);
  const n = raw.byteLength / size;
  if (dtype === 'F32') return new Float32Array(raw.buffer, raw.byteOffset, n);
  if (dtype === 'F64') return Float32Array.from(new Float64Array(raw.buffer, raw.byteOffset, n));
  const half = new Uint16Array(raw.buffer, raw.byteOffset, n);
  return dtype === 'F16' ? f16ToF32Array(half, into) : bf16ToF32Array(half, into);
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

async function readHeader(fh: FileHandle, path: string): Promise<{ entries: Map<string, Entry>; metadata: Record<string, unknown>; size: number }> {
  const size = (await fh.stat()).size;
  const lenBuf = Buffer.alloc(8);
  if (size >= 8) await fh.read(lenBuf, 0, 8, 0);
  const headerLen = headerLength(lenBuf, size, path);
  const headerBuf = Buffer.alloc(headerLen);
  const { bytesRead } = await fh.read(headerBuf, 0, headerLen, 8);
  if (bytesRead !== headerLen) throw new AppError('checkpoint_invalid', `short read of the header: got ${bytesRead} of ${headerLen} bytes`, { file: path });
  return { ...parseHeader(headerBuf, size, path), size };
}

/** The header length a safetensors file's first 8 bytes announce, checked against the file size. */
export function headerLength(first8: Uint8Array, size: number, path: string): number {
  const invalid = (msg: string) => new AppError('checkpoint_invalid', msg, { file: path });
  if (size < 8) throw invalid(size === 0 ? 'safetensors file is empty (0 bytes)' : `truncated: expected at least 8 bytes, file has ${size}`);
  const n = Buffer.from(first8.buffer, first8.byteOffset, 8).readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER)) throw invalid(`header length ${n} bytes exceeds the ${MAX_HEADER / 1024 / 1024} MB limit; not a safetensors file?`);
  const headerLen = Number(n);
  if (8 + headerLen > size) throw invalid(`truncated: expected at least ${8 + headerLen} bytes for the header, file has ${size}`);
  return headerLen;
}

/**
 * Parses and checks a header (the JSON bytes after the 8-byte length) of a file of `size` bytes:
 * every tensor's dtype, shape and byte range, no overlaps, nothing past the end of the file.
 * Entry offsets are absolute file positions.
 */
export function parseHeader(headerBuf: Uint8Array, size: number, path: string): { entries: Map<string, Entry>; metadata: Record<string, unknown> } {
  const invalid = (msg: string) => new AppError('checkpoint_invalid', msg, { file: path });
  const headerLen = headerBuf.byteLength;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuf));
  } catch (cause) {
    throw new AppError('checkpoint_invalid', `header is not valid UTF-8 JSON: ${(cause as Error).message}`, { file: path, cause });
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw invalid('header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataSize = size - dataStart;
  const entries = new Map<string, Entry>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  let metadata: Record<string, unknown> = {};
  let furthest: { name: string; end: number } | undefined;
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('__metadata__ is not a JSON object');
      metadata = raw as Record<string, unknown>;
      continue;
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(`tensor "${name}": entry is not a JSON object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) {
      throw new AppError('checkpoint_unsupported',
        `tensor "${name}" has dtype ${JSON.stringify(dtype)}, which is not supported (known: ${Object.keys(dtypeSize).join(', ')})`, { file: path });
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) throw invalid(`tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw invalid(`tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * dtypeSize[dtype];
    if (!Number.isSafeInteger(expected)) throw invalid(`tensor "${name}": shape ${JSON.stringify(shape)} is implausibly large`);
    if (end - begin !== expected) {
      throw invalid(`tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected}`);
    }
    if (!furthest || end > furthest.end) furthest = { name, end };
    if (end > begin) ranges.push({ name, begin, end });
    entries.set(name, { dtype, shape: shape as number[], byteLength: expected, begin: dataStart + begin });
  }
  if (furthest && furthest.end > dataSize) {
    throw invalid(`truncated: expected at least ${dataStart + furthest.end} bytes, file has ${size} (tensor "${furthest.name}" ends at byte ${dataStart + furthest.end})`);
  }
  ranges.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const [p, c] = [ranges[i - 1], ranges[i]];
    if (c.begin < p.end) throw invalid(`tensors "${p.name}" [${p.begin}, ${p.end}) and "${c.name}" [${c.begin}, ${c.end}) overlap`);
  }
  return { entries, metadata };
}

/** One IEEE half → number, exactly (zero, subnormals, ±inf and NaN included). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
// Arrays go through a 64K-entry table (256 KB, built on first use): a lookup beats the arithmetic.
let F16_TABLE: Float32Array | undefined;
function f16ToF32Array(src: Uint16Array, into?: Float32Array): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) F16_TABLE[i] = f16ToF32(i);
  }
  const out = into ?? new Float32Array(src.length);
  const table = F16_TABLE;
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}
/** BF16 is the upper half of a float32, so widening is a shift. */
function bf16ToF32Array(src: Uint16Array, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** A checkpoint folder: one model.safetensors, or shards listed by model.safetensors.index.json. */
export class Checkpoint {
  private constructor(
    readonly dir: string,
    readonly files: readonly SafetensorsFile[],
    private readonly where: Map<string, SafetensorsFile>,
    /** The index's "metadata" (sharded) or the single file's "__metadata__". */
    readonly metadata: Record<string, unknown>,
  ) {}

  static async open(dir: string): Promise<Checkpoint> {
    const s = await stat(dir).catch(() => undefined);
    if (!s) throw new AppError('checkpoint_invalid', 'checkpoint folder does not exist', { file: dir });
    if (!s.isDirectory()) throw new AppError('checkpoint_invalid', 'checkpoint path is not a folder', { file: dir });
    const single = join(dir, SINGLE_FILE);
    if (existsSync(single)) {
      const f = await SafetensorsFile.open(single);
      return new Checkpoint(dir, [f], new Map(f.names().map((n) => [n, f])), f.metadata);
    }
    const index = join(dir, INDEX_FILE);
    if (existsSync(index)) return Checkpoint.openSharded(dir, index);
    if (existsSync(join(dir, 'pytorch_model.bin')) || existsSync(join(dir, 'pytorch_model.bin.index.json'))) {
      throw new AppError('checkpoint_unsupported',
        `only PyTorch .bin weights found in ${dir}; looked for ${SINGLE_FILE} or ${INDEX_FILE} (re-save the model with safe_serialization=True)`, { file: dir });
    }
    throw new AppError('checkpoint_invalid', `no weights found in ${dir}: looked for ${SINGLE_FILE} and ${INDEX_FILE}`, { file: dir });
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  /** Like info(), plus which file holds it; throws 'tensor_missing' naming the tensor and folder. */
  require(name: string): TensorInfo & { file: string } {
    const f = this.fileOf(name);
    return { ...f.info(name), file: f.path };
  }

  info(name: string): TensorInfo {
    return this.fileOf(name).info(name);
  }

  readRaw(name: string): Buffer {
    return this.fileOf(name).readRaw(name);
  }

  readFloat32(name: string): Float32Array {
    return this.fileOf(name).readFloat32(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }

  private fileOf(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (!f) throw new AppError('tensor_missing', `tensor "${name}" is not in the checkpoint at ${this.dir}`, { file: this.dir });
    return f;
  }

  private static async openSharded(dir: string, index: string): Promise<Checkpoint> {
    const json = await readJsonFile(index, 'safetensors index');
    const invalid = (msg: string) => new AppError('checkpoint_invalid', msg, { file: index });
    const map = (json as { weight_map?: unknown } | null)?.weight_map;
    if (!map || typeof map !== 'object' || Array.isArray(map)) throw invalid('index has no "weight_map" object');
    const meta = (json as { metadata?: unknown }).metadata;
    const byShard = new Map<string, string[]>();
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== 'string' || !shard) throw invalid(`weight_map entry for "${tensor}" is not a file name`);
      // Shards must live inside the folder: an index is data and must not point elsewhere.
      const rel = relative(resolve(dir), resolve(dir, shard));
      if (rel.startsWith('..') || isAbsolute(rel)) throw invalid(`weight_map names "${shard}", which is outside the checkpoint folder`);
      const list = byShard.get(shard) ?? byShard.set(shard, []).get(shard)!;
      list.push(tensor);
    }
    for (const shard of byShard.keys()) {
      const path = join(dir, shard);
      if (!existsSync(path)) {
        throw new AppError('checkpoint_invalid', `shard "${shard}" named by ${index} is missing`, { file: path });
      }
    }
    const files: SafetensorsFile[] = [];
    const where = new Map<string, SafetensorsFile>();
    try {
      for (const [shard, tensors] of byShard) {
        const f = await SafetensorsFile.open(join(dir, shard));
        files.push(f);
        for (const t of tensors) {
          if (!f.has(t)) throw invalid(`weight_map places tensor "${t}" in ${f.path}, which does not contain it`);
          where.set(t, f);
        }
      }
    } catch (err) {
      await Promise.all(files.map((f) => f.close()));
      throw err;
    }
    const metadata = meta && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, unknown>) : {};
    return new Checkpoint(dir, files, where, metadata);
  }
}
