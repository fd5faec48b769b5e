// The protocol's one matrix codec: float32 vectors travel between the worker and the host as
// base64 of their bytes (Float32MatrixSchema in protocol.ts), encoded by the worker, decoded and
// shape-checked by the host.
import { AppError } from '../shared/errors.ts';
import type { Float32Matrix } from './protocol.ts';

/** Float32 values → the wire form (base64 of the bytes, host byte order = little-endian in practice). */
export function encodeMatrix(data: Float32Array, rows: number, cols: number): Float32Matrix {
  if (data.length !== rows * cols) throw new AppError('inference_failed', `expected ${rows}×${cols} values, got ${data.length}`);
  return { rows, cols, base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
}

/** A wire matrix back to floats (an aligned copy), after checking its shape where it is known. */
export function decodeMatrix(m: Float32Matrix, what: string, rows?: number, cols?: number): Float32Array {
  if ((rows !== undefined && m.rows !== rows) || (cols !== undefined && m.cols !== cols)) {
    throw unexpectedAnswer(`${what}: ${m.rows}×${m.cols}, expected ${rows ?? m.rows}×${cols ?? m.cols}`);
  }
  const bytes = Buffer.from(m.base64, 'base64');
  if (bytes.byteLength !== m.rows * m.cols * 4) throw unexpectedAnswer(`${what}: ${bytes.byteLength} bytes for ${m.rows}×${m.cols} floats`);
  const out = new Float32Array(m.rows * m.cols);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** One copy per row (callers keep and store the vectors; views would pin the whole batch). */
export function splitRows(all: Float32Array, rows: number): Float32Array[] {
  const cols = rows === 0 ? 0 : all.length / rows;
  return Array.from({ length: rows }, (_, r) => all.slice(r * cols, (r + 1) * cols));
}

export function unexpectedAnswer(what: string): AppError {
  return new AppError('inference_failed', `the inference worker sent an unexpected answer (${what})`);
}
