// What the indexer needs from inference: caption a photo, caption it and compute its search vectors
// in one request, or only the vectors. InferenceHost (the worker process) provides it; the indexer
// never sees processes, protocols or ONNX Runtime.
import { type CaptionOptions, type GeneratedTextData, PREFETCH_LIMIT } from '../../jobs/protocol.ts';

export type { CaptionOptions, GeneratedTextData };
export { PREFETCH_LIMIT };

export interface InferenceCall {
  /** Aborting cancels the request; it then rejects with code 'cancelled'. */
  signal?: AbortSignal;
  /** Photos likely to be asked about next: a low-memory worker encodes them while it can. */
  prefetch?: readonly string[];
}

export interface PhotoInference {
  caption(imagePath: string, options: CaptionOptions, call?: InferenceCall): Promise<GeneratedTextData>;
  /** Caption and query vectors from one request (one vision pass when both models share the ViT). */
  analyze(imagePath: string, opts: { caption: CaptionOptions; embed: true }, call?: InferenceCall): Promise<{ caption?: GeneratedTextData; features?: Float32Array }>;
  /** The photo's query vectors [queries × embedDim] from the retrieval model. */
  embedImage(imagePath: string, call?: InferenceCall): Promise<Float32Array>;
}
