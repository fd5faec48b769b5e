// Works the caption queue in the app: claim a job, caption the photo in the worker, commit the
// caption and finish the job in one transaction (the queue's guarantee: nothing captioned twice),
// then write the XMP sidecar. Adds what the CLI's CaptionRunner does not need: pause/resume, the
// photo being worked on, photos per minute and an ETA, and the recent failures with their files.
//   runs while: not paused, autoCaption on, a model ready, the worker not given up.
// When no photo waits for a caption and the search model is loaded, it computes the missing search
// embeddings and tag suggestions ('analyze'), photo by photo, the same way.
// Pausing cancels the photo in progress; its job goes back to the queue without using an attempt.
import type { Library } from '../../src/library/library.ts';
import type { MetadataSync } from '../../src/library/metadata-sync.ts';
import type { CaptionOptions } from '../../src/jobs/protocol.ts';
import type { AppSettings, QueueError, QueueStatus } from '../../src/shared/app-types.ts';
import { type ErrorData, errorCode, toErrorData } from '../../src/shared/errors.ts';
import type { EventHub } from './event-hub.ts';
import type { InferenceService } from './inference-service.ts';
import type { Analyzer } from './search-service.ts';

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
  /** Search's per-photo analysis, run when no photo waits for a caption. */
  analyzer?: Analyzer;
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

  constructor(private readonly o: QueueServiceOptions) {
    this.paused = o.paused ?? false;
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
    return this.o.inference.captionReady() || (this.o.analyzer?.ready() ?? false);
  }

  private async run(): Promise<void> {
    while (this.canRun()) {
      const worked = (this.o.inference.captionReady() && (await this.captionNext())) || (await this.analyzeNext());
      if (!worked) return;
    }
  }

  /** Captions the next queued photo (and analyzes it in the same pass when search wants it). */
  private async captionNext(): Promise<boolean> {
    const { queue, catalog } = this.o.lib;
    const job = queue.claimNext(this.workerId, { kind: 'caption' });
    if (!job) return false;
    // Captioned meanwhile (the user typed one, or asked for a new one): nothing is captioned twice.
    if (catalog.currentCaption(job.photoId)) {
      queue.complete(job.id, () => {}, { worker: this.workerId });
      return true;
    }
    await this.work({ photoId: job.photoId, path: job.path, task: 'caption' }, async (signal) => {
      const { host, modelId } = this.o.inference.requireCaption();
      const options = captionOptionsOf(this.o.settings());
      const embed = this.o.analyzer?.wants(job.photoId) ?? false;
      // One request for both when search wants the photo too: one decode, one vision pass if shared.
      const r = embed
        ? await host.analyze(job.path, { caption: options, embed: true }, { signal })
        : { caption: await host.caption(job.path, options, { signal }), features: undefined };
      const caption = r.caption!;
      const applied = queue.complete(job.id, () => {
        catalog.addAiCaption(job.photoId, { text: caption.text, modelId, prompt: options.prompt ?? null, settings: { ...options, tokenIds: caption.tokenIds } });
      }, { worker: this.workerId });
      if (r.features) this.o.analyzer?.store(job.photoId, r.features);
      if (applied) await this.o.metadata().write(job.photoId);
    }, (error) => {
      if (error === 'cancelled') {
        queue.release(job.id, { worker: this.workerId });
        return false;
      }
      // An unreadable photo stays unreadable; a crash or a transient error is worth another try.
      return queue.fail(job.id, error, { worker: this.workerId, retry: error.code !== 'photo_unreadable' }) === 'failed';
    });
    return true;
  }

  /** Computes the search embedding (and tag suggestions) of the next photo that lacks one. */
  private async analyzeNext(): Promise<boolean> {
    const a = this.o.analyzer;
    const host = this.o.inference.host;
    const next = a?.ready() ? a.next() : undefined;
    if (!a || !host || !next) return false;
    await this.work({ ...next, task: 'analyze' }, async (signal) => {
      a.store(next.photoId, await host.embedImage(next.path, { signal }));
      // The new tag suggestions go to the sidecar with the caption.
      await this.o.metadata().write(next.photoId);
    }, (error) => {
      if (error === 'cancelled') return false;
      a.skip(next.photoId);
      // Already listed when its caption failed for the same reason.
      return !this.recentErrors.some((e) => e.photoId === next.photoId);
    });
    return true;
  }

  /**
   * Runs one photo's work with the status kept current. `onError` gets 'cancelled' (paused or
   * closing) or the error, and says whether it is a final failure to list among recentErrors.
   */
  private async work(
    current: NonNullable<QueueStatus['current']>,
    run: (signal: AbortSignal) => Promise<void>,
    onError: (error: ErrorData | 'cancelled') => boolean,
  ): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    this.current = current;
    this.emitStatus();
    const started = performance.now();
    try {
      await run(abort.signal);
      this.measure(performance.now() - started);
    } catch (err) {
      if (errorCode(err) === 'cancelled' || abort.signal.aborted) onError('cancelled');
      else {
        const error = toErrorData(err);
        if (onError(error)) {
          this.recentErrors = [{ photoId: current.photoId, path: current.path, error }, ...this.recentErrors].slice(0, RECENT_ERRORS);
          this.measure(performance.now() - started);
        }
      }
    } finally {
      this.abort = undefined;
      this.current = null;
    }
    this.o.events.emit('library:changed', { photoIds: [current.photoId] });
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
