// RetrievalEncoder over the inference worker: the same interface as the in-process
// LocalRetrievalEncoder, so search and tag code runs unchanged in the app (worker) and the CLI.
// The host owns the worker and the model; disposing this handle releases nothing. Also the host's
// decoding of the float vectors the worker sends (base64 of float32 bytes, shape checked).
import { AppError } from '../shared/errors.ts';
import type { RetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import type { InferenceHost } from './inference-host.ts';
import type { Float32Matrix, RetrievalModelInfo } from './protocol.ts';

export class HostRetrievalEncoder implements RetrievalEncoder {
  readonly modelId: string;
  readonly queries: number;
  readonly embedDim: number;

  /** `info` is what host.loadRetrieval returned for the model this encoder stands for. */
  constructor(private readonly host: InferenceHost, info: RetrievalModelInfo) {
    this.modelId = info.modelId;
    this.queries = info.queries;
    this.embedDim = info.embedDim;
  }

  embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    return this.host.embedTexts(texts);
  }

  embedImage(imagePath: string): Promise<Float32Array> {
    return this.host.embedImage(imagePath);
  }

  itm(imagePath: string, texts: readonly string[]): Promise<number[]> {
    return this.host.itm(imagePath, texts);
  }

  async dispose(): Promise<void> {
    // Nothing to release here: the worker's lifetime is the host's owner's business.
  }
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
