// Works the caption queue through the inference worker: claim a job, caption the photo in the
// worker process, commit the caption and finish the job in one transaction, then write XMP.
// A crashed worker fails the attempt (the host restarts it); cancellation gives the job back.
import { errorCode, toErrorData, type ErrorData } from '../shared/errors.ts';
import type { InferenceHost } from '../jobs/inference-host.ts';
import type { CaptionOptions, ModelInfo } from '../jobs/protocol.ts';
import type { Library } from './library.ts';
import type { MetadataSync } from './metadata-sync.ts';
import type { PhotoAnalysis } from './photo-analysis.ts';

export interface RunnerProgress {
  done: number;
  failed: number;
  pending: number;
  last?: { path: string; text?: string; error?: ErrorData };
}

export interface CaptionRunnerOptions {
  host: InferenceHost;
  model: ModelInfo;
  metadata: MetadataSync;
  captionOptions?: CaptionOptions;
  /** Search analysis: when it wants the photo, caption and query vectors come from one request
   *  (one decode, one vision pass when the models share the ViT). */
  analysis?: Pick<PhotoAnalysis, 'wants' | 'store'>;
  onProgress?: (p: RunnerProgress) => void;
}

export class CaptionRunner {
  private readonly workerId = `pid-${process.pid}`;
  private done = 0;
  private failed = 0;

  constructor(private readonly lib: Library, private readonly o: CaptionRunnerOptions) {}

  /** Processes jobs until the queue is empty or `signal` aborts. */
  async drain(signal?: AbortSignal): Promise<void> {
    const { queue, catalog } = this.lib;
    const modelId = this.o.model.label;
    while (!signal?.aborted) {
      const job = queue.claimNext(this.workerId, { kind: 'caption' });
      if (!job) return;
      try {
        const options = this.o.captionOptions ?? {};
        const analysis = this.o.analysis?.wants(job.photoId) ? this.o.analysis : undefined;
        const both = analysis ? await this.o.host.analyze(job.path, { caption: options, embed: true }, { signal }) : undefined;
        const r = both?.caption ?? await this.o.host.caption(job.path, options, { signal });
        const applied = queue.complete(job.id, () => {
          catalog.addAiCaption(job.photoId, {
            text: r.text, modelId, prompt: this.o.captionOptions?.prompt ?? null,
            settings: { ...this.o.captionOptions, tokenIds: r.tokenIds },
          });
        }, { worker: this.workerId });
        if (both?.features) analysis!.store(job.photoId, both.features);
        if (applied) {
          this.done++;
          await this.o.metadata.write(job.photoId);
        }
        this.report({ path: job.path, text: r.text });
      } catch (e) {
        if (errorCode(e) === 'cancelled' || signal?.aborted) {
          queue.release(job.id, { worker: this.workerId });
          return;
        }
        const err = toErrorData(e);
        // An unreadable photo stays unreadable: retrying only helps after a crash or a transient error.
        const state = queue.fail(job.id, err, { worker: this.workerId, retry: err.code !== 'photo_unreadable' });
        if (state === 'failed') this.failed++;
        this.report({ path: job.path, error: err });
      }
    }
  }

  private report(last: RunnerProgress['last']): void {
    this.o.onProgress?.({ done: this.done, failed: this.failed, pending: this.lib.queue.pendingCount(), last });
  }
}
