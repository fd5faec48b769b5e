// What main says about the app as a whole: settings, models, the worker, folders and counts.
// Loaded with getState, then kept current from pushed events.
import type { AppSettings, AppState, FolderView, ModelStatus, WorkerStatus } from '../lib/contract.ts';
import { coalesce, type Coalesced } from '../lib/coalesce.ts';
import { errorMessageOf, type Client } from '../lib/client.ts';
import type { QueueState } from './queue.svelte.ts';

type Models = { caption: ModelStatus; retrieval: ModelStatus };
const NO_MODEL: ModelStatus = { dir: null, state: 'none' };

export class AppStatus {
  loaded = $state(false);
  loadError = $state<string | null>(null);
  firstRun = $state(false);
  settings = $state.raw<AppSettings | null>(null);
  folders = $state.raw<FolderView[]>([]);
  models = $state.raw<Models>({ caption: NO_MODEL, retrieval: NO_MODEL });
  worker = $state.raw<WorkerStatus>({ state: 'stopped', restarts: 0 });
  counts = $state.raw({ photos: 0, captioned: 0, tagged: 0 });
  searchAvailable = $state(false);
  /** The user chose to look around before finishing the first-run flow (never a dead end). */
  skippedFirstRun = $state(false);
  /** The worker stopped unexpectedly this session (kept after it recovers, until dismissed). */
  workerIncident = $state<{ message: string; restarts: number } | null>(null);
  /** Opened again from the library ("Set up a model"), whatever main says. */
  firstRunRequested = $state(false);

  showFirstRun = $derived(this.loaded && ((this.firstRun && !this.skippedFirstRun) || this.firstRunRequested));
  hasCaptionModel = $derived(this.models.caption.dir !== null && this.models.caption.state !== 'error');

  readonly #client: Client;
  readonly #queue: QueueState | undefined;
  readonly #refreshSoon: Coalesced;
  #unsubscribe: Array<() => void> = [];

  constructor(client: Client, queue?: QueueState, refreshDelayMs = 800) {
    this.#client = client;
    this.#queue = queue;
    this.#refreshSoon = coalesce(() => this.refresh(), refreshDelayMs);
  }

  /** Subscribes to events, then loads the first state. */
  async start(): Promise<void> {
    this.#unsubscribe.push(
      this.#client.on('worker:status', (w) => this.#setWorker(w)),
      this.#client.on('models:status', (m) => {
        this.models = m;
        // searchAvailable and firstRun follow from the models: ask main rather than guess.
        this.#refreshSoon();
      }),
      this.#client.on('library:changed', () => this.#refreshSoon()),
    );
    await this.refresh();
  }

  stop(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
    this.#refreshSoon.cancel();
  }

  async refresh(): Promise<void> {
    try {
      this.apply(await this.#client.call('getState'));
      this.loadError = null;
    } catch (err) {
      this.loadError = errorMessageOf(err);
    }
  }

  apply(state: AppState): void {
    this.firstRun = state.firstRun;
    this.settings = state.settings;
    this.folders = state.folders;
    this.models = state.models;
    this.#setWorker(state.worker);
    this.counts = state.counts;
    this.searchAvailable = state.searchAvailable;
    this.#queue?.apply(state.queue);
    this.loaded = true;
  }

  dismissWorkerIncident(): void {
    this.workerIncident = null;
  }

  #setWorker(w: WorkerStatus): void {
    const before = this.worker;
    this.worker = w;
    const trouble = w.state === 'restarting' || w.state === 'crashed';
    // A restart may be over before its event arrives: a higher count says it happened anyway.
    if (trouble || (this.loaded && w.restarts > before.restarts)) {
      this.workerIncident = { message: w.message ?? 'The inference worker stopped unexpectedly.', restarts: w.restarts };
    }
  }

  /** Reopens the welcome flow from the library (e.g. "Set up a model"). */
  reopenFirstRun(): void {
    this.firstRunRequested = true;
  }

  /** Leaves the welcome flow; the library's empty states keep offering the next step. */
  leaveFirstRun(): void {
    this.firstRunRequested = false;
    this.skippedFirstRun = true;
  }
}
