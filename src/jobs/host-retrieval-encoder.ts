// RetrievalEncoder over the inference worker: the same interface as the in-process
// LocalRetrievalEncoder (which the worker itself runs), so search and tag code runs unchanged in the
// app (worker) and the CLI. The host owns the worker and the model; disposing this handle releases nothing.
import type { RetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import type { InferenceHost } from './inference-host.ts';
import type { RetrievalModelInfo } from './protocol.ts';

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
