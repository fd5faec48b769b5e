// The user's changes to the app: folders, models (pick or convert), inference and XMP settings.
// Every change is main's to validate; the answer (or a fresh getState) updates AppStatus.
import type { AppSettings, ConvertProgress, WeightsName } from '../lib/contract.ts';
import { errorCodeOf, errorMessageOf, handleError, type Client } from '../lib/client.ts';
import { newRequestId } from '../lib/ids.ts';
import type { AppStatus } from './app.svelte.ts';

export type ModelRole = 'caption' | 'retrieval';
export type SettingsPatch = Partial<Omit<AppSettings, 'captionModelDir' | 'retrievalModelDir'>>;

export interface Conversion {
  requestId: string;
  role: ModelRole;
  stages: string[];
  stage: string;
  part?: string;
  done: boolean;
  error?: string;
  dir?: string;
}

export class SettingsState {
  busy = $state(false);
  conversion = $state<Conversion | null>(null);

  readonly #client: Client;
  readonly #app: AppStatus;
  #off: (() => void) | null = null;

  constructor(client: Client, app: AppStatus) {
    this.#client = client;
    this.#app = app;
  }

  start(): void {
    this.#off ??= this.#client.on('convert:progress', (p) => this.#onProgress(p));
  }

  stop(): void {
    this.#off?.();
    this.#off = null;
  }

  /** A native folder picker; null when the user cancelled it (or it failed, said in a toast). */
  async pickDirectory(title: string): Promise<string | null> {
    try {
      return (await this.#client.call('pickDirectory', { title })).path;
    } catch (err) {
      handleError(err, 'Choosing a folder');
      return null;
    }
  }

  async update(patch: SettingsPatch): Promise<void> {
    await this.#busy('Saving settings', async () => {
      this.#app.settings = await this.#client.call('updateSettings', patch);
    });
  }

  async setModel(role: ModelRole, dir: string | null): Promise<boolean> {
    return this.#busy(role === 'caption' ? 'Setting the captioning model' : 'Setting the retrieval model', async () => {
      const status = await this.#client.call('setModel', { role, dir });
      this.#app.models = { ...this.#app.models, [role]: status };
      await this.#app.refresh();
    });
  }

  /** Converts a downloaded checkpoint, then uses the result for `role`. */
  async convert(checkpointDir: string, outDir: string, weights: WeightsName, role: ModelRole = 'caption'): Promise<boolean> {
    const requestId = newRequestId('convert');
    this.conversion = { requestId, role, stages: [], stage: 'starting', done: false };
    const conversion = this.conversion;
    try {
      const { dir } = await this.#client.call('convertModel', { requestId, checkpointDir, outDir, weights });
      conversion.done = true;
      conversion.dir = dir;
      conversion.stage = 'converted';
    } catch (err) {
      conversion.done = true;
      if (errorCodeOf(err) === 'cancelled') conversion.stage = 'stopped';
      else conversion.error = errorMessageOf(err);
      handleError(err, 'Converting the checkpoint');
      return false;
    }
    return this.setModel(role, conversion.dir!);
  }

  async cancelConversion(): Promise<void> {
    const id = this.conversion?.requestId;
    if (!id || this.conversion?.done) return;
    try {
      await this.#client.call('cancel', { requestId: id });
    } catch (err) {
      handleError(err, 'Stopping the conversion');
    }
  }

  async addFolder(path: string): Promise<boolean> {
    return this.#busy('Adding the folder', async () => {
      await this.#client.call('addFolder', { path: path.trim() });
      await this.#app.refresh();
    });
  }

  async removeFolder(folderId: number): Promise<boolean> {
    return this.#busy('Removing the folder', async () => {
      await this.#client.call('removeFolder', { folderId });
      await this.#app.refresh();
    });
  }

  async rescanFolder(folderId: number): Promise<boolean> {
    return this.#busy('Rescanning the folder', async () => {
      const view = await this.#client.call('rescanFolder', { folderId });
      this.#app.folders = this.#app.folders.map((f) => (f.id === view.id ? view : f));
    });
  }

  #onProgress(p: ConvertProgress): void {
    const c = this.conversion;
    if (!c || c.requestId !== p.requestId) return;
    if (c.stage !== p.stage && !c.stages.includes(p.stage)) c.stages.push(p.stage);
    c.stage = p.stage;
    c.part = p.part;
    if (p.error) c.error = p.error.message;
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
