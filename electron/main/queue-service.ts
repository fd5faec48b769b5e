// The app's driver of the photo indexer (src/library/indexer): one photo at a time through the same
// pipeline as the CLI's `index` (caption jobs, then the search-vector backfill), plus what only the
// app needs: pause/resume, the photo being worked on, photos per minute and an ETA, and the recent
// failures with their files.
//   runs while: not paused, autoCaption on, a caption or search model ready, the worker not given up.
// Pausing cancels the photo in progress; its job goes back to the queue without using an attempt.
import type { Library } from '../../src/library/library.ts';
import type { MetadataSync } from '../../src/library/metadata-sync.ts';
import type { CaptionOptions } from '../../src/jobs/protocol.ts';
import { type IndexStep, PhotoIndexer, type SearchSetup } from '../../src/library/indexer/photo-indexer.ts';
import type { AppSettings, QueueError, QueueStatus } from '../../src/shared/app-types.ts';
import type { EventHub } from './event-hub.ts';
import type { InferenceService } from './inference-service.ts';

/** Failures kept for the UI, newest first. */
const RECENT_ERRORS = 20;
/** Photos whose durations make the rate. */
const RATE_WINDOW = 20;

export interface QueueServiceOptions {
  lib: Library;
  inference: InferenceService;
  events: EventHub;
  settings: () => AppSettings;
  metadata: () => MetadataSync;
  /** Search and tags once the retrieval model is ready (SearchService): the indexer's backfill. */
  search?: { setup(): SearchSetup | undefined };
  /** Start paused (autoStart: false). */
  paused?: boolean;
}

/** The caption options the settings ask for (an empty prompt means none). */
export function captionOptionsOf(s: AppSettings): CaptionOptions {
  return { maxNewTokens: s.maxNewTokens, numBeams: s.numBeams, ...(s.captionPrompt.trim() ? { prompt: s.captionPrompt.trim() } : {}) };
}

export class QueueService {
  private readonly workerId = `app-${process.pid}`;
  private paused: boolean;
  private current: QueueStatus['current'] = null;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private readonly durations: number[] = [];
  private recentErrors: QueueError[] = [];
  private closed = false;
  private readonly indexer: PhotoIndexer;

  constructor(private readonly o: QueueServiceOptions) {
    this.paused = o.paused ?? false;
    this.indexer = new PhotoIndexer({
      catalog: o.lib.catalog,
      inference: () => o.inference.host,
      caption: () => {
        if (!o.inference.captionReady()) return undefined;
        const { modelId, convertedAt, lowMemory } = o.inference.requireCaption();
        return { modelId, convertedAt, lowMemory, options: captionOptionsOf(o.settings()) };
      },
      search: () => o.search?.setup(),
      writeSidecar: (photoId) => o.metadata().write(photoId),
      workerId: this.workerId,
      // Thresholds re-calibrated on the library: the tags shown changed.
      onRetagged: () => o.events.emit('library:changed', {}),
    });
  }

  status(): QueueStatus {
    const counts = this.o.lib.queue.counts();
    // Waiting and in progress: what is left to do.
    const pending = counts.pending + counts.running;
    const rate = this.ratePerMinute();
    return {
      paused: this.paused,
      pending,
      done: counts.done,
      failed: counts.failed,
      current: this.current && { ...this.current },
      ratePerMinute: rate,
      etaSeconds: rate && pending ? Math.round((pending / rate) * 60) : rate ? 0 : null,
      recentErrors: this.recentErrors.map((e) => ({ ...e })),
    };
  }

  pause(): QueueStatus {
    this.paused = true;
    this.abort?.abort();
    this.emitStatus();
    return this.status();
  }

  resume(): QueueStatus {
    this.paused = false;
    this.kick();
    this.emitStatus();
    return this.status();
  }

  retryFailed(): QueueStatus {
    const n = this.o.lib.queue.retryFailed();
    this.indexer.retryFailed();
    if (n) {
      this.recentErrors = [];
      this.o.events.emit('library:changed', {});
    }
    this.kick();
    this.emitStatus();
    return this.status();
  }

  /** Starts working if there may be work and nothing stops it; cheap to call often. */
  kick(): void {
    if (this.loop || !this.canRun()) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      this.emitStatus();
    });
  }

  /** Resolves when the loop has stopped (queue empty, paused, or the model went away). */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort?.abort();
    await this.idle();
  }

  private canRun(): boolean {
    if (this.closed || this.paused || !this.o.settings().autoCaption || this.o.inference.worker.state === 'crashed') return false;
    return this.indexer.canWork();
  }

  private async run(): Promise<void> {
    while (this.canRun()) {
      const abort = new AbortController();
      this.abort = abort;
      let started = 0;
      const step = await this.indexer.step(abort.signal, (target) => {
        this.current = { photoId: target.photoId, path: target.path, task: target.task };
        started = performance.now();
        this.emitStatus();
      }).finally(() => {
        this.abort = undefined;
        this.current = null;
      });
      if (!step) return;
      this.record(step, started);
      if (step.outcome === 'cancelled') return;
    }
  }

  /** The rate counts photos worked (done, or failed for good); the UI lists final failures. */
  private record(step: IndexStep, started: number): void {
    if (step.outcome === 'done' || (step.outcome === 'failed' && step.final)) this.measure(performance.now() - started);
    // A photo whose caption failed is listed once, even when its vectors fail for the same reason.
    if (step.outcome === 'failed' && step.final && !this.recentErrors.some((e) => e.photoId === step.photoId)) {
      this.recentErrors = [{ photoId: step.photoId, path: step.path, error: step.error }, ...this.recentErrors].slice(0, RECENT_ERRORS);
    }
    this.o.events.emit('library:changed', { photoIds: [step.photoId] });
    this.emitStatus();
  }

  private measure(ms: number): void {
    this.durations.push(ms);
    if (this.durations.length > RATE_WINDOW) this.durations.shift();
  }

  /** Photos per minute while working (idle time between batches does not count). */
  private ratePerMinute(): number | null {
    if (!this.durations.length) return null;
    const mean = this.durations.reduce((a, b) => a + b, 0) / this.durations.length;
    return mean > 0 ? Math.round((60_000 / mean) * 10) / 10 : null;
  }

  private emitStatus(): void {
    if (!this.closed) this.o.events.emit('queue:status', this.status());
  }
}
