// The main process's side of the inference worker: starts the InferenceHost on first use, loads the
// captioning (blip2-opt) and retrieval (blip2-itm) models the settings name, and turns the host's
// exit/restart events into WorkerStatus and ModelStatus for the UI. A crash is visible as it happens:
// 'restarting' (with the reason), then 'ready' once the host has restarted the worker and reloaded
// the models, or 'crashed' when the host gave up (too many crashes in a row).
import { InferenceHost } from '../../src/jobs/inference-host.ts';
import type { ModelInfo, SessionSettingsData } from '../../src/jobs/protocol.ts';
import type { TransportFactory } from '../../src/jobs/transport.ts';
import type { RetrievalEncoder } from '../../src/runtime/blip2/retrieval-encoder.ts';
import { readManifest } from '../../src/runtime/model-folder.ts';
import type { AppSettings, ModelStatus, WorkerStatus } from '../../src/shared/app-types.ts';
import { CAPTION_KINDS } from '../../src/shared/model-manifest.ts';
import { AppError, toErrorData } from '../../src/shared/errors.ts';
import type { EventHub } from './event-hub.ts';

export type ModelRole = 'caption' | 'retrieval';

export interface InferenceServiceOptions {
  events: EventHub;
  settings: () => AppSettings;
  transport?: TransportFactory;
  /** Restart backoff of the host (tests shorten it). */
  backoffMs?: number;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

/** Kinds each role accepts: captioning with OPT or Flan-T5, retrieval with the ITM model. */
const EXPECTED_KINDS: Record<ModelRole, readonly string[]> = { caption: CAPTION_KINDS, retrieval: ['blip2-itm'] };

export class InferenceService {
  private hostInstance: InferenceHost | undefined;
  private starting: Promise<InferenceHost> | undefined;
  private workerStatus: WorkerStatus = { state: 'stopped', restarts: 0 };
  private readonly status: Record<ModelRole, ModelStatus> = { caption: { dir: null, state: 'none' }, retrieval: { dir: null, state: 'none' } };
  private captionInfo: ModelInfo | undefined;
  private retrievalEncoder: RetrievalEncoder | undefined;
  /** Loads run one at a time, in the order asked. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly changeListeners = new Set<() => void>();
  private closing = false;

  constructor(private readonly o: InferenceServiceOptions) {}

  get worker(): WorkerStatus {
    return { ...this.workerStatus };
  }

  models(): { caption: ModelStatus; retrieval: ModelStatus } {
    return { caption: { ...this.status.caption }, retrieval: { ...this.status.retrieval } };
  }

  /** The running host, for requests; undefined before a model was loaded. */
  get host(): InferenceHost | undefined {
    return this.hostInstance;
  }

  /** The worker can take captioning work: the model is loaded and the host has not given up. */
  captionReady(): boolean {
    return this.status.caption.state === 'ready' && this.workerStatus.state !== 'crashed' && this.hostInstance !== undefined;
  }

  /** The host and the caption model's id, or model_missing naming what to do. */
  requireCaption(): { host: InferenceHost; modelId: string; convertedAt: string; lowMemory: boolean } {
    const s = this.status.caption;
    if (s.state === 'loading') throw new AppError('model_missing', 'the captioning model is still loading; try again in a moment');
    if (s.state === 'error' && s.error) throw new AppError(s.error.code, s.error.message, { file: s.error.file });
    if (!this.hostInstance || !this.captionInfo || s.state !== 'ready') {
      throw new AppError('model_missing', 'no captioning model is set up; choose one in Settings');
    }
    return { host: this.hostInstance, modelId: captionModelId(this.captionInfo), convertedAt: this.captionInfo.createdAt, lowMemory: !!this.captionInfo.lowMemory };
  }

  /** The retrieval encoder over the worker when the retrieval model is ready. */
  get retrieval(): RetrievalEncoder | undefined {
    return this.status.retrieval.state === 'ready' ? this.retrievalEncoder : undefined;
  }

  /** Called after any worker or model status change (the queue re-decides whether to run). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => void this.changeListeners.delete(listener);
  }

  /** Loads (dir) or forgets (null) the model of `role`; errors end up in the returned status. */
  setModel(role: ModelRole, dir: string | null): Promise<ModelStatus> {
    const run = this.chain.then(() => this.load(role, dir));
    this.chain = run.catch(() => {});
    return run;
  }

  /** Threads, execution provider or low memory changed: reload what is loaded (`roles`: only those). */
  async reloadAll(roles: readonly ModelRole[] = ['caption', 'retrieval']): Promise<void> {
    for (const role of roles) {
      const { dir, state } = this.status[role];
      if (dir && state !== 'none') await this.setModel(role, dir);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const host = this.hostInstance ?? (await this.starting?.catch(() => undefined));
    this.hostInstance = undefined;
    await host?.shutdown().catch(() => {});
    this.setWorker({ state: 'stopped', restarts: this.workerStatus.restarts });
    this.changeListeners.clear();
  }

  private async load(role: ModelRole, dir: string | null): Promise<ModelStatus> {
    if (role === 'caption') this.captionInfo = undefined;
    else this.retrievalEncoder = undefined;
    // The worker has no "unload": a forgotten model stays in its memory until replaced, but nothing
    // here uses it any more (every user checks the status first).
    if (dir === null) return this.setStatus(role, { dir: null, state: 'none' });
    this.setStatus(role, { dir, state: 'loading' });
    try {
      // The manifest check is fast and gives model_missing / model_invalid before a worker is started.
      const manifest = await readManifest(dir);
      if (!EXPECTED_KINDS[role].includes(manifest.kind)) {
        throw new AppError('model_invalid', `this is a ${manifest.kind} model; the ${role === 'caption' ? 'captioning' : 'search'} model must be ${EXPECTED_KINDS[role].join(' or ')}`, { file: dir });
      }
      const revived = await this.replaceCrashedHost();
      const host = await this.ensureHost();
      // A new worker has no models: the other role's model goes back in too.
      const other: ModelRole = role === 'caption' ? 'retrieval' : 'caption';
      if (revived && this.status[other].dir) void this.setModel(other, this.status[other].dir);
      if (role === 'caption') {
        const info = await host.load(dir, { ...this.sessionSettings(), lowMemory: this.o.settings().lowMemory });
        this.captionInfo = info;
        return this.setStatus(role, { dir, state: 'ready', architecture: info.architecture, weights: info.weights, ...(info.lowMemory ? { lowMemory: true } : {}) });
      }
      const info = await host.loadRetrieval(dir, this.sessionSettings());
      this.retrievalEncoder = host.retrievalEncoder(info);
      return this.setStatus(role, { dir, state: 'ready', architecture: manifest.architecture, weights: info.weights });
    } catch (err) {
      return this.setStatus(role, { dir, state: 'error', error: toErrorData(err) });
    }
  }

  private sessionSettings(): SessionSettingsData {
    const s = this.o.settings();
    // 0 = let ONNX Runtime use every core.
    return { ...(s.threads > 0 ? { threads: s.threads } : {}), executionProvider: s.executionProvider };
  }

  /** A host that gave up restarting is shut down so that the next load starts a fresh worker. */
  private async replaceCrashedHost(): Promise<boolean> {
    const old = this.hostInstance;
    if (!old || this.workerStatus.state !== 'crashed') return false;
    this.hostInstance = undefined;
    await old.shutdown().catch(() => {});
    return true;
  }

  private ensureHost(): Promise<InferenceHost> {
    if (this.hostInstance) return Promise.resolve(this.hostInstance);
    if (this.closing) return Promise.reject(new AppError('cancelled', 'the app is closing'));
    this.starting ??= (async () => {
      const host = new InferenceHost({ transport: this.o.transport, ...(this.o.backoffMs ? { backoffMs: this.o.backoffMs } : {}) });
      host.on('log', (e) => this.o.log?.(e.level, e.message));
      host.on('exit', (e) => {
        if (this.closing || e.reason === 'shutdown') return;
        const how = e.reason === 'crash' ? 'crashed' : 'was stopped';
        const why = e.signal ? e.signal : `exit code ${e.code}`;
        this.setWorker({ state: 'restarting', restarts: this.workerStatus.restarts, message: `the inference worker ${how} (${why}); restarting` });
        // The host schedules the restart right after this event; wait for it on the next turn.
        setImmediate(() => void this.watchRecovery(host));
      });
      host.on('restart', () => {
        if (this.closing) return;
        this.setWorker({ ...this.workerStatus, state: 'restarting', restarts: this.workerStatus.restarts + 1 });
      });
      this.setWorker({ state: 'starting', restarts: this.workerStatus.restarts });
      try {
        await host.start();
      } catch (err) {
        this.setWorker({ state: 'crashed', restarts: this.workerStatus.restarts, message: toErrorData(err).message });
        throw err;
      }
      this.hostInstance = host;
      this.setWorker({ state: 'ready', pid: host.pid, restarts: this.workerStatus.restarts });
      return host;
    })().finally(() => { this.starting = undefined; });
    return this.starting;
  }

  /** Waits for the restarted worker (models reloaded) and reports it ready, or that the host gave up. */
  private async watchRecovery(host: InferenceHost): Promise<void> {
    try {
      await host.whenReady();
    } catch (err) {
      if (!this.closing && host === this.hostInstance) {
        this.setWorker({ state: 'crashed', restarts: this.workerStatus.restarts, message: `${toErrorData(err).message}; choose the model again in Settings to start a new worker` });
      }
      return;
    }
    if (this.closing || host !== this.hostInstance || this.workerStatus.state !== 'restarting') return;
    this.setWorker({ state: 'ready', pid: host.pid, restarts: this.workerStatus.restarts, message: this.workerStatus.message?.replace(/restarting$/, 'restarted') });
  }

  private setWorker(w: WorkerStatus): void {
    this.workerStatus = w;
    this.o.events.emit('worker:status', this.worker);
    this.changed();
  }

  private setStatus(role: ModelRole, s: ModelStatus): ModelStatus {
    this.status[role] = s;
    this.o.events.emit('models:status', this.models());
    this.changed();
    return { ...s };
  }

  private changed(): void {
    for (const l of [...this.changeListeners]) l();
  }
}

/** How captions name their model (provenance): folder name and weights, as the CLI writes it. */
export function captionModelId(info: ModelInfo): string {
  return info.label;
}
