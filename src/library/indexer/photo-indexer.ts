// The one pipeline a photo goes through, for the CLI's `index` and the app's queue alike:
//   caption job: claim → skip if captioned meanwhile → caption (+ query vectors in the same request
//   when search wants the photo) → commit caption, tags and vectors with the job in ONE transaction
//   (a job finished elsewhere applies nothing) → sidecar → progress
//   backfill, when no photo waits for a caption: the next photo without search vectors → vectors →
//   tags + vectors in one transaction → sidecar; once the backlog is done, tag thresholds are
//   re-calibrated on the library's own vectors and the re-tagged photos' sidecars rewritten.
// Drivers add what they need around `step`: the CLI a progress bar, the app pause, rate and ETA.
import { type ErrorData, errorCode, toErrorData } from '../../shared/errors.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { PhotoAnalysis } from '../photo-analysis.ts';
import { type CaptionOptions, PREFETCH_LIMIT, type PhotoInference } from './inference-client.ts';

/** The captioning model, when one is ready. */
export interface CaptionSetup {
  /** How captions name the model (its label: `repo@commit int4` or `folder:int4`). */
  modelId: string;
  /** When the model folder was converted: recorded with each caption, as the retrieval id records it. */
  convertedAt?: string;
  options: CaptionOptions;
  /** The worker runs the model in low-memory mode: each request names the photos queued next, which
   *  it encodes along with the first (otherwise nothing is looked up or sent). */
  lowMemory?: boolean;
}

/** Search and tags, when the retrieval model is ready. */
export interface SearchSetup {
  analysis: Pick<PhotoAnalysis, 'modelId' | 'shape' | 'wants' | 'store' | 'recalibrateIfDue'>;
  /** A live in-memory index (PhotoSearch) to keep current. */
  index?: { add(photoId: number, vectors: Float32Array, shape: { queries: number; dim: number }): void };
}

export interface IndexerOptions {
  catalog: Catalog;
  /** Read before every photo, so a model loaded or unloaded meanwhile is picked up. */
  inference: () => PhotoInference | undefined;
  caption: () => CaptionSetup | undefined;
  search: () => SearchSetup | undefined;
  /** Writes the photo's sidecars (MetadataSync.write); failures are its own to report. */
  writeSidecar: (photoId: number) => Promise<unknown>;
  /** Names this process in the job table. */
  workerId: string;
  /** Photos re-tagged by a calibration (their sidecars are already rewritten). */
  onRetagged?: (photoIds: number[]) => void;
}

export type IndexTask = 'caption' | 'analyze';

export interface IndexTarget { photoId: number; path: string; task: IndexTask }

export type IndexStep = IndexTarget & (
  | { outcome: 'done'; text?: string }
  /** Captioned after it was queued (typed by the user, or by another process): nothing is captioned twice. */
  | { outcome: 'skipped' }
  /** `final`: no attempt left (or not worth one); the photo is listed as failed. */
  | { outcome: 'failed'; error: ErrorData; final: boolean }
  /** Paused or stopped: a caption job goes back to the queue without using an attempt. */
  | { outcome: 'cancelled' }
);

export class PhotoIndexer {
  /** Photos whose vectors failed in this run: not offered again until `retryFailed` or a new run. */
  private readonly failedBackfill = new Set<number>();

  constructor(private readonly o: IndexerOptions) {}

  /** Whether `step` may find work: a caption model, or a search model, is ready. */
  canWork(): boolean {
    return this.o.inference() !== undefined && (this.o.caption() !== undefined || this.o.search() !== undefined);
  }

  /**
   * Works one photo: the next caption job, else the next photo lacking search vectors. Returns
   * undefined when there is nothing to do. `onStart` is called once the photo is chosen.
   */
  async step(signal?: AbortSignal, onStart?: (target: IndexTarget) => void): Promise<IndexStep | undefined> {
    const inference = this.o.inference();
    if (!inference || signal?.aborted) return undefined;
    const caption = this.o.caption();
    if (caption) {
      const r = await this.captionNext(inference, caption, signal, onStart);
      if (r) return r;
    }
    return this.backfillNext(inference, signal, onStart);
  }

  /** Works until nothing is left, a photo is cancelled or `signal` aborts. */
  async drain(signal?: AbortSignal, onStep?: (s: IndexStep) => void): Promise<void> {
    for (let s = await this.step(signal); s; s = await this.step(signal)) {
      onStep?.(s);
      if (s.outcome === 'cancelled') return;
    }
  }

  /** Offers the photos whose vectors failed again (the user asked to retry failures). */
  retryFailed(): void {
    this.failedBackfill.clear();
  }

  private async captionNext(inference: PhotoInference, setup: CaptionSetup, signal: AbortSignal | undefined, onStart?: (t: IndexTarget) => void): Promise<IndexStep | undefined> {
    const { catalog, workerId: worker } = this.o;
    const job = catalog.jobs.claimNext(worker, { kind: 'caption' });
    if (!job) return undefined;
    const target: IndexTarget = { photoId: job.photoId, path: job.path, task: 'caption' };
    // Captioned after the job was queued (typed by the user, or by another process): nothing is
    // captioned twice. A job queued on purpose over an existing caption (caption again) still runs.
    const current = catalog.currentCaption(job.photoId);
    if (current && current.createdAt > job.createdAt) {
      catalog.jobs.complete(job.id, () => {}, { worker });
      return { ...target, outcome: 'skipped' };
    }
    onStart?.(target);
    try {
      const search = this.o.search();
      const wantsVectors = search?.analysis.wants(job.photoId) ?? false;
      // The photos queued next: a low-memory worker encodes them along with this one.
      const call = { signal, ...(setup.lowMemory ? { prefetch: catalog.jobs.nextPaths(PREFETCH_LIMIT, { kind: 'caption' }) } : {}) };
      // One request for both when search wants the photo too: one decode, one vision pass if shared.
      const r = wantsVectors
        ? await inference.analyze(job.path, { caption: setup.options, embed: true }, call)
        : { caption: await inference.caption(job.path, setup.options, call), features: undefined };
      const text = r.caption!;
      const applied = catalog.jobs.complete(job.id, () => {
        catalog.addAiCaption(job.photoId, {
          text: text.text, modelId: setup.modelId, prompt: setup.options.prompt ?? null,
          settings: { ...setup.options, tokenIds: text.tokenIds, ...(setup.convertedAt ? { modelConvertedAt: setup.convertedAt } : {}) },
        });
        if (r.features && search) search.analysis.store(job.photoId, r.features);
      }, { worker });
      if (applied) {
        if (r.features && search) search.index?.add(job.photoId, r.features, search.analysis.shape);
        await this.o.writeSidecar(job.photoId);
      }
      return applied ? { ...target, outcome: 'done', text: text.text } : { ...target, outcome: 'skipped' };
    } catch (e) {
      if (errorCode(e) === 'cancelled' || signal?.aborted) {
        catalog.jobs.release(job.id, { worker });
        return { ...target, outcome: 'cancelled' };
      }
      const error = toErrorData(e);
      // An unreadable photo stays unreadable: retrying only helps after a crash or a transient error.
      const state = catalog.jobs.fail(job.id, error, { worker, retry: error.code !== 'photo_unreadable' });
      return { ...target, outcome: 'failed', error, final: state === 'failed' };
    }
  }

  private async backfillNext(inference: PhotoInference, signal: AbortSignal | undefined, onStart?: (t: IndexTarget) => void): Promise<IndexStep | undefined> {
    const search = this.o.search();
    if (!search) return undefined;
    const next = this.nextWithoutVectors(search.analysis.modelId);
    if (!next) {
      await this.recalibrate(search);
      return undefined;
    }
    const target: IndexTarget = { ...next, task: 'analyze' };
    onStart?.(target);
    try {
      const features = await inference.embedImage(next.path, { signal });
      // Tags and vectors together: "has vectors" always means "was tagged", and a rerun retries.
      const stored = this.o.catalog.transaction(() => {
        if (!search.analysis.wants(next.photoId)) return false;
        search.analysis.store(next.photoId, features);
        return true;
      });
      if (!stored) return { ...target, outcome: 'skipped' };
      search.index?.add(next.photoId, features, search.analysis.shape);
      // The new tag suggestions go to the sidecar with the caption.
      await this.o.writeSidecar(next.photoId);
      return { ...target, outcome: 'done' };
    } catch (e) {
      if (errorCode(e) === 'cancelled' || signal?.aborted) return { ...target, outcome: 'cancelled' };
      this.failedBackfill.add(next.photoId);
      return { ...target, outcome: 'failed', error: toErrorData(e), final: true };
    }
  }

  /** The first photo (by id) lacking vectors for `modelId`, with a file present, not failed in this run. */
  private nextWithoutVectors(modelId: string): { photoId: number; path: string } | undefined {
    for (let after = 0; ;) {
      const page = this.o.catalog.photosWithoutEmbedding(modelId, 32, after);
      if (!page.length) return undefined;
      const hit = page.find((p) => !this.failedBackfill.has(p.photoId));
      if (hit) return { photoId: hit.photoId, path: hit.path };
      after = page[page.length - 1].photoId;
    }
  }

  /** Thresholds learnt from the library once it has grown; the re-tagged photos' sidecars follow. */
  private async recalibrate(search: SearchSetup): Promise<void> {
    const ids = search.analysis.recalibrateIfDue();
    for (const id of ids) await this.o.writeSidecar(id);
    if (ids.length) this.o.onRetagged?.(ids);
  }
}
