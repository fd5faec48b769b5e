// Models from the Hugging Face Hub, as the renderer sees them: the known and installed models (read
// from disk by main, never from the Hub), a download's plan (sizes from the Hub, only when the user
// asks), one download at a time with its progress, cancel and resume, and the Hub settings (models
// folder, endpoint, whether a token is set: the token itself never comes back here).
import type {
  DownloadPlan, KnownModelView, ModelsView, PulledModel, PullProgressEvent,
} from '../lib/contract.ts';
import { errorCodeOf, errorMessageOf, handleError, type Client } from '../lib/client.ts';
import { newRequestId } from '../lib/ids.ts';
import type { AppStatus } from './app.svelte.ts';
import type { ModelRole } from './settings.svelte.ts';

/** One model of a download: a known alias or a Hub repo, for a role. */
export interface ModelPick {
  ref: string;
  role: ModelRole;
}

export interface DownloadRun {
  requestId: string;
  picks: ModelPick[];
  status: 'running' | 'cancelled' | 'failed' | 'done';
  /** The latest progress event (of the model being downloaded). */
  progress: PullProgressEvent | null;
  /** The run carried on from an interrupted one (known when a model is done). */
  resumed: boolean;
  error?: string;
  results?: PulledModel[];
}

export class ModelsState {
  view = $state.raw<ModelsView | null>(null);
  plan = $state.raw<DownloadPlan | null>(null);
  /** The models the plan (or the lookup under way) is for. */
  planFor = $state.raw<ModelPick[] | null>(null);
  planning = $state(false);
  planError = $state<string | null>(null);
  download = $state<DownloadRun | null>(null);
  busy = $state(false);
  /** Verification answers by model name: ok, or why not. */
  verified = $state<Record<string, { ok: boolean; message?: string }>>({});

  running = $derived(this.download?.status === 'running');

  readonly #client: Client;
  readonly #app: AppStatus;
  #planId: string | null = null;
  #off: (() => void) | null = null;

  constructor(client: Client, app: AppStatus) {
    this.#client = client;
    this.#app = app;
  }

  start(): void {
    this.#off ??= this.#client.on('pull:progress', (p) => this.#onProgress(p));
  }

  stop(): void {
    this.#off?.();
    this.#off = null;
  }

  /** The recommended known model for a role (BLIP-2 OPT-2.7b for captions, ITM for search and tags). */
  recommended(role: ModelRole): KnownModelView | undefined {
    const known = this.view?.known ?? [];
    return known.find((k) => k.role === role && k.recommended && k.usable) ?? known.find((k) => k.role === role && k.usable);
  }

  /** Reads what main knows (disk only). A download running in main (the window was reloaded) is shown again. */
  async load(): Promise<void> {
    try {
      this.view = await this.#client.call('listModels');
    } catch (err) {
      handleError(err, 'Listing the models');
      return;
    }
    const active = this.view.activeDownload;
    if (active && this.download?.requestId !== active.requestId) {
      const roleOf = (ref: string): ModelRole => this.view?.known.find((k) => k.alias === ref || k.repo === ref)?.role ?? 'caption';
      this.download = { requestId: active.requestId, picks: active.refs.map((ref) => ({ ref, role: roleOf(ref) })), status: 'running', progress: null, resumed: false };
    }
  }

  /** Asks main to read the download's sizes from the Hub (the only time a lookup happens). */
  async planDownload(picks: ModelPick[]): Promise<boolean> {
    const requestId = newRequestId('plan');
    this.#planId = requestId;
    this.planFor = picks;
    this.plan = null;
    this.planError = null;
    this.planning = true;
    try {
      const plan = await this.#client.call('planModelDownload', { requestId, models: picks });
      if (this.#planId === requestId) this.plan = plan;
      return true;
    } catch (err) {
      if (this.#planId === requestId && errorCodeOf(err) !== 'cancelled') this.planError = errorMessageOf(err);
      return false;
    } finally {
      if (this.#planId === requestId) this.planning = false;
    }
  }

  /** Drops the plan (and stops a lookup under way). */
  async dismissPlan(): Promise<void> {
    const id = this.#planId;
    this.#planId = null;
    this.plan = null;
    this.planFor = null;
    this.planError = null;
    if (this.planning && id) {
      this.planning = false;
      await this.#client.call('cancel', { requestId: id }).catch(() => {});
    }
  }

  /** Downloads the picked models; main sets each up for its role as soon as it is ready. */
  async startDownload(picks: ModelPick[]): Promise<boolean> {
    if (this.running) return false;
    const requestId = newRequestId('pull');
    this.download = { requestId, picks, status: 'running', progress: null, resumed: false };
    const run = this.download;
    this.plan = null;
    this.planFor = null;
    try {
      const { models } = await this.#client.call('pullModels', { requestId, models: picks });
      run.status = 'done';
      run.results = models;
      run.resumed = run.resumed || models.some((m) => m.resumed);
      return true;
    } catch (err) {
      if (errorCodeOf(err) === 'cancelled') {
        run.status = 'cancelled';
      } else {
        run.status = 'failed';
        run.error = errorMessageOf(err);
      }
      return false;
    } finally {
      await Promise.all([this.load(), this.#app.refresh()]);
    }
  }

  /** Stops the download; what arrived is kept, so resume() carries on from there. */
  async cancelDownload(): Promise<void> {
    const run = this.download;
    if (!run || run.status !== 'running') return;
    try {
      await this.#client.call('cancel', { requestId: run.requestId });
    } catch (err) {
      handleError(err, 'Stopping the download');
    }
  }

  /** Downloads the same models again: main resumes where it stopped. */
  async resume(): Promise<boolean> {
    const run = this.download;
    if (!run || run.status === 'running') return false;
    return this.startDownload(run.picks);
  }

  dismissDownload(): void {
    if (this.download?.status !== 'running') this.download = null;
  }

  async verify(name: string): Promise<void> {
    await this.#busy('Verifying the model', async () => {
      const r = await this.#client.call('verifyModel', { name });
      this.verified = { ...this.verified, [name]: { ok: r.ok, ...(r.error ? { message: r.error.message } : {}) } };
    });
  }

  async remove(name: string): Promise<void> {
    await this.#busy('Removing the model', async () => {
      await this.#client.call('removeModel', { name });
      const { [name]: _, ...rest } = this.verified;
      this.verified = rest;
      await Promise.all([this.load(), this.#app.refresh()]);
    });
  }

  /** Stores the Hub token in main (encrypted there); only "a token is set" comes back. */
  async setToken(token: string | null): Promise<boolean> {
    return this.#busy(token ? 'Saving the token' : 'Clearing the token', async () => {
      const { tokenSet } = await this.#client.call('setHubToken', { token });
      if (this.view) this.view = { ...this.view, tokenSet };
    });
  }

  /** The system folder picker, then the new models folder (future downloads go there). */
  async chooseModelsDir(): Promise<void> {
    await this.#busy('Choosing the models folder', async () => {
      const { path } = await this.#client.call('pickDirectory', { title: 'Choose where to keep downloaded models' });
      if (!path) return;
      this.#app.settings = await this.#client.call('updateSettings', { modelsDir: path });
      await this.load();
    });
  }

  /** The Hub or a mirror (null: back to the default). */
  async setHubEndpoint(url: string | null): Promise<boolean> {
    return this.#busy('Saving the Hub address', async () => {
      this.#app.settings = await this.#client.call('updateSettings', { hubEndpoint: url });
      await this.load();
    });
  }

  #onProgress(p: PullProgressEvent): void {
    const run = this.download;
    if (!run || run.requestId !== p.requestId) return;
    run.progress = p;
    if (p.resumed) run.resumed = true;
  }

  async #busy(doing: string, fn: () => Promise<void>): Promise<boolean> {
    this.busy = true;
    try {
      await fn();
      return true;
    } catch (err) {
      handleError(err, doing);
      return false;
    } finally {
      this.busy = false;
    }
  }
}
