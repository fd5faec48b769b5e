// The open photo: its detail, and the user's edits to its caption and tags. A regenerated caption
// streams in (`stream:token`, the whole text so far) before the call returns the saved result.
import type { GenerationChoices, PhotoDetail } from '../lib/contract.ts';
import { coalesce, type Coalesced } from '../lib/coalesce.ts';
import { handleError, type Client } from '../lib/client.ts';
import { newRequestId } from '../lib/ids.ts';

export type PhotoAction = 'save' | 'accept' | 'regenerate' | 'tag';

export class PhotoViewState {
  photoId = $state<number | null>(null);
  detail = $state.raw<PhotoDetail | null>(null);
  loading = $state(false);
  busy = $state<PhotoAction | null>(null);
  /** The caption being regenerated, growing token by token. */
  streaming = $state<{ requestId: string; text: string } | null>(null);

  readonly #client: Client;
  readonly #reloadSoon: Coalesced;
  #offs: Array<() => void> = [];

  constructor(client: Client, refreshDelayMs = 300) {
    this.#client = client;
    this.#reloadSoon = coalesce(() => this.load(), refreshDelayMs);
  }

  start(): void {
    if (this.#offs.length) return;
    this.#offs.push(
      this.#client.on('library:changed', ({ photoIds }) => {
        if (this.photoId !== null && (!photoIds || photoIds.includes(this.photoId))) this.#reloadSoon();
      }),
      this.#client.on('stream:token', ({ requestId, text }) => {
        if (this.streaming?.requestId === requestId) this.streaming.text = text; // cumulative, per the contract
      }),
    );
  }

  stop(): void {
    for (const off of this.#offs) off();
    this.#offs = [];
    this.#reloadSoon.cancel();
  }

  async open(photoId: number): Promise<void> {
    if (this.streaming) await this.stopRegenerating();
    this.photoId = photoId;
    if (this.detail?.id !== photoId) this.detail = null;
    await this.load();
  }

  close(): void {
    if (this.streaming) void this.stopRegenerating();
    this.photoId = null;
    this.detail = null;
  }

  async load(): Promise<void> {
    const id = this.photoId;
    if (id === null) return;
    this.loading = true;
    try {
      const detail = await this.#client.call('getPhoto', { photoId: id });
      if (this.photoId === id) this.detail = detail;
    } catch (err) {
      handleError(err, 'Opening the photo');
    } finally {
      this.loading = false;
    }
  }

  saveCaption = (text: string) => this.#edit('save', 'Saving the caption', (photoId) =>
    this.#client.call('setCaption', { photoId, text }));

  acceptCaption = () => this.#edit('accept', 'Accepting the caption', (photoId) =>
    this.#client.call('acceptCaption', { photoId }));

  acceptTag = (label: string) => this.#edit('tag', `Accepting the tag "${label}"`, (photoId) =>
    this.#client.call('acceptTag', { photoId, label }));

  rejectTag = (label: string) => this.#edit('tag', `Rejecting the tag "${label}"`, (photoId) =>
    this.#client.call('rejectTag', { photoId, label }));

  addTag = (label: string) => this.#edit('tag', `Adding the tag "${label}"`, (photoId) =>
    this.#client.call('addTag', { photoId, label: label.trim() }));

  async regenerate(options: GenerationChoices): Promise<boolean> {
    const requestId = newRequestId('caption');
    this.streaming = { requestId, text: '' };
    try {
      return await this.#edit('regenerate', 'Regenerating the caption', (photoId) =>
        this.#client.call('regenerateCaption', { photoId, requestId, options }));
    } finally {
      if (this.streaming?.requestId === requestId) this.streaming = null;
    }
  }

  async stopRegenerating(): Promise<void> {
    const requestId = this.streaming?.requestId;
    if (!requestId) return;
    try {
      await this.#client.call('cancel', { requestId });
    } catch (err) {
      handleError(err, 'Stopping');
    }
  }

  /** Runs one edit; the answer is the photo as saved. Resolves true when it succeeded. */
  async #edit(action: PhotoAction, doing: string, call: (photoId: number) => Promise<PhotoDetail>): Promise<boolean> {
    const id = this.photoId;
    if (id === null) return false;
    this.busy = action;
    try {
      const detail = await call(id);
      if (this.photoId === id) this.detail = detail;
      return true;
    } catch (err) {
      handleError(err, doing);
      return false;
    } finally {
      this.busy = null;
    }
  }
}
