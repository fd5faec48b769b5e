// Writes small safetensors files for tests, the way the reference library lays them out
// (header padded with spaces to 8-byte alignment, tensors packed in insertion order). It trusts
// its input on purpose: tests use it to build files whose dtype or shape lie about the data.
import { writeFile } from 'node:fs/promises';
import { f32ToF16, toF16 } from '../../src/onnx/float16.ts';
export { f32ToF16, toF16 };

export interface TensorSpec {
  /** Any string, so tests can write unknown dtypes. */
  dtype: string;
  shape: number[];
  /** Stored as its raw bytes (host byte order, i.e. little-endian on every platform we run on). */
  data: ArrayBufferView;
}

function bytesOf(v: ArrayBufferView): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** A complete file from an already-serialised header text and data region. */
export function encodeRaw(headerText: string, data: Uint8Array = new Uint8Array(0), align = true): Buffer {
  const text = align ? headerText.padEnd(Math.ceil(headerText.length / 8) * 8, ' ') : headerText;
  const header = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.byteLength));
  return Buffer.concat([len, header, data]);
}

export function encodeSafetensors(tensors: Record<string, TensorSpec>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = bytesOf(t.data);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  return encodeRaw(JSON.stringify(header), Buffer.concat(parts));
}

export async function writeSafetensors(path: string, tensors: Record<string, TensorSpec>, metadata?: Record<string, string>): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → BF16 bits, round to nearest even (NaN stays a quiet NaN). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 → F16 bits, round to nearest even, with subnormals, overflow to ±inf and NaN. */

export function toBf16(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values as ArrayLike<number>, (v) => f32ToBf16(v));
}
