// The app's main-process service: the composition root of the core (catalog, folders and watcher,
// job queue, inference worker, XMP, thumbnails, search) behind one method per IPC call. Plain Node,
// no `electron` import: Electron's main (electron/main/main.ts) and the e2e harness
// (test/e2e/harness.ts) both drive this same object, so the tests exercise the real handlers.
// Every method takes the call's argument as the contract's schema parsed it (ipc-handlers.ts) and
// may throw; errors become data at the IPC boundary, never here.
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { convertInChild, forkConvertTransport } from '../../src/jobs/converter-host.ts';
import type { TransportFactory } from '../../src/jobs/transport.ts';
import type { FolderWatcherOptions } from '../../src/library/folder-watcher.ts';
import { Library } from '../../src/library/library.ts';
import { MetadataSync } from '../../src/library/metadata-sync.ts';
import { thumbnail } from '../../src/library/thumbnails.ts';
import type { AppSettings, AppState, PhotoDetail } from '../../src/shared/app-types.ts';
import { AppError, toErrorData } from '../../src/shared/errors.ts';
import type { Channel, EventMap, EventName, ParsedArgsOf, ResultMap } from '../../src/shared/ipc-contract.ts';
import { ChatService } from './chat-service.ts';
import { EventHub } from './event-hub.ts';
import { FolderService } from './folder-service.ts';
import type { SecretBox } from './hub-token.ts';
import { InferenceService } from './inference-service.ts';
import { ModelService } from './model-service.ts';
import { libraryCounts, listPhotoPage, photoDetail, presentPath } from './photo-views.ts';
import { QueueService } from './queue-service.ts';
import { SearchService } from './search-service.ts';
import { SETTINGS_FILE, SettingsStore } from './settings-store.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface AppServiceOptions {
  /** Where the catalog, settings and thumbnail cache live (Electron's app.getPath('userData')). */
  userDataDir: string;
  /** How the inference worker is started: a Node child (default) or an Electron utility process. */
  transport?: TransportFactory;
  /** How a converter process is started (one per conversion or download): a Node child (default) or a utility process. */
  convertTransport?: TransportFactory;
  /** Encrypts the Hugging Face token (Electron's safeStorage); without it no token can be stored. */
  secrets?: SecretBox;
  /** The environment $HF_ENDPOINT is read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The native folder picker (Electron's dialog); without it pickDirectory answers null. */
  pickDirectory?: (title: string) => Promise<string | null>;
  /** Shows a file in the system file manager (Electron's shell.showItemInFolder). */
  revealPath?: (path: string) => boolean;
  /** Work the caption queue as soon as possible (default true); false opens with the queue paused. */
  autoStart?: boolean;
  /** Watcher timings (tests shorten them). */
  watcher?: FolderWatcherOptions;
  /** Delay before the first restart of a crashed worker (doubles per crash; default 200 ms). */
  restartBackoffMs?: number;
  log?: (level: LogLevel, message: string) => void;
}

/** One method per contract channel: the parsed argument in, the result type out. */
export type ServiceApi = { [C in Channel]: (args: ParsedArgsOf<C>) => Promise<ResultMap[C]> };

const defaultLog = (level: LogLevel, message: string): void => {
  if (level === 'warn' || level === 'error') process.stderr.write(`[main] ${message}\n`);
};

export class AppService implements ServiceApi {
  readonly events = new EventHub();
  readonly userDataDir: string;
  readonly thumbnailDir: string;
  private metadata: MetadataSync;
  private readonly inference: InferenceService;
  private readonly queue: QueueService;
  private readonly chat: ChatService;
  private readonly folders: FolderService;
  private readonly searcher: SearchService;
  private readonly models: ModelService;
  private readonly convertTransport: TransportFactory;
  /** Running conversions by request id: cancel() aborts them, close() waits for their children. */
  private readonly conversions = new Map<string, { abort: AbortController; done: Promise<unknown> }>();
  private closing: Promise<void> | undefined;

  private constructor(private readonly opts: AppServiceOptions, private readonly settingsStore: SettingsStore, readonly lib: Library) {
    this.userDataDir = resolve(opts.userDataDir);
    this.thumbnailDir = join(this.userDataDir, 'thumbnails');
    const log = opts.log ?? defaultLog;
    const settings = () => this.settingsStore.get();
    this.metadata = this.makeMetadata();
    this.convertTransport = opts.convertTransport ?? forkConvertTransport();
    this.inference = new InferenceService({ events: this.events, settings, transport: opts.transport, backoffMs: opts.restartBackoffMs, log });
    this.searcher = new SearchService({
      lib, inference: this.inference, events: this.events, onReady: () => this.queue.kick(),
    });
    this.queue = new QueueService({
      lib, inference: this.inference, events: this.events, settings, metadata: () => this.metadata, search: this.searcher, paused: opts.autoStart === false,
    });
    this.chat = new ChatService(this.inference, this.events, settings);
    this.folders = new FolderService({ lib, events: this.events, watcher: opts.watcher, onPhotosChanged: () => this.queue.kick() });
    this.models = new ModelService({
      userDataDir: this.userDataDir, events: this.events, settings: settingsStore, convertTransport: this.convertTransport,
      secrets: opts.secrets, env: opts.env, log, useModel: (role, dir) => this.setModel({ role, dir }),
    });
    this.inference.onChange(() => {
      this.searcher.refresh();
      this.queue.kick();
    });
  }

  /** Opens the catalog and settings, starts watching and rescanning the folders, loads the models. */
  static async open(opts: AppServiceOptions): Promise<AppService> {
    const dir = resolve(opts.userDataDir);
    await mkdir(dir, { recursive: true });
    const log = opts.log ?? defaultLog;
    const settings = await SettingsStore.open(join(dir, SETTINGS_FILE), (m) => log('warn', m));
    let service: AppService | undefined;
    const lib = Library.open(join(dir, 'catalog.db'), {
      problem: (e) => service?.events.emit('problem', e),
      log: (m) => log('info', m),
    });
    // The catalog keeps the RAW+JPEG choice too (the CLI reads it there); the app's setting leads.
    lib.pairPreference = settings.get().pairPreference;
    service = new AppService(opts, settings, lib);
    service.folders.start();
    const s = settings.get();
    if (s.captionModelDir) void service.inference.setModel('caption', s.captionModelDir);
    if (s.retrievalModelDir) void service.inference.setModel('retrieval', s.retrievalModelDir);
    return service;
  }

  on<E extends EventName>(event: E, listener: (payload: EventMap[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Stops the queue (the photo in progress goes back to it), the watcher and the worker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.chat.cancelAll();
      for (const c of this.conversions.values()) c.abort.abort();
      await Promise.all([...this.conversions.values()].map((c) => c.done.catch(() => {})));
      await this.models.close();
      await this.queue.close();
      await this.searcher.close();
      await this.folders.close();
      await this.inference.close();
      this.lib.close();
      this.events.clear();
    })();
    return this.closing;
  }

  /** Resolves when no scan runs and the queue has stopped (tests; nothing else should wait on it). */
  async idle(): Promise<void> {
    await this.folders.idle();
    await this.queue.idle();
  }

  /** The worker's process id (tests kill it to prove crash recovery). */
  get workerPid(): number | undefined {
    return this.inference.host?.pid;
  }

  // ── media (served by media.ts) ──────────────────────────────────────────────────────────────

  /** The cached thumbnail file of a photo (created on first use). */
  async thumbnailFile(photoId: number): Promise<string> {
    const photo = this.lib.catalog.photo(photoId);
    if (!photo) throw new AppError('invalid_argument', `no photo with id ${photoId}`);
    return thumbnail(presentPath(this.lib.catalog, photoId), photo.hash, this.thumbnailDir);
  }

  /** Where a photo's bytes can be read now and the format the catalog knows. */
  photoFile(photoId: number): { path: string; format: string | null } {
    const photo = this.lib.catalog.photo(photoId);
    if (!photo) throw new AppError('invalid_argument', `no photo with id ${photoId}`);
    return { path: presentPath(this.lib.catalog, photoId), format: photo.format };
  }

  // ── calls ───────────────────────────────────────────────────────────────────────────────────

  async getState(): Promise<AppState> {
    const settings = this.settingsStore.get();
    const folders = this.folders.views();
    return {
      firstRun: folders.length === 0 || !settings.captionModelDir,
      settings,
      folders,
      models: this.inference.models(),
      worker: this.inference.worker,
      queue: this.queue.status(),
      counts: libraryCounts(this.lib.catalog),
      searchAvailable: this.searcher.available,
    };
  }

  async pickDirectory(args: ParsedArgsOf<'pickDirectory'>): Promise<ResultMap['pickDirectory']> {
    return { path: (await this.opts.pickDirectory?.(args.title)) ?? null };
  }

  async addFolder(args: ParsedArgsOf<'addFolder'>): Promise<ResultMap['addFolder']> {
    return this.folders.add(absolute(args.path, 'the folder'));
  }

  async removeFolder(args: ParsedArgsOf<'removeFolder'>): Promise<ResultMap['removeFolder']> {
    return { removed: await this.folders.remove(args.folderId) };
  }

  async rescanFolder(args: ParsedArgsOf<'rescanFolder'>): Promise<ResultMap['rescanFolder']> {
    return this.folders.rescan(args.folderId);
  }

  async listPhotos(args: ParsedArgsOf<'listPhotos'>): Promise<ResultMap['listPhotos']> {
    return listPhotoPage(this.lib.catalog, args.filters, args.sort, args.offset, args.limit);
  }

  async getPhoto(args: ParsedArgsOf<'getPhoto'>): Promise<PhotoDetail> {
    return this.detail(args.photoId);
  }

  async setCaption(args: ParsedArgsOf<'setCaption'>): Promise<PhotoDetail> {
    this.lib.catalog.setUserCaption(args.photoId, args.text);
    return this.afterEdit(args.photoId);
  }

  /** The AI caption (the current one, else the newest) becomes the user's own; history keeps both. */
  async acceptCaption(args: ParsedArgsOf<'acceptCaption'>): Promise<PhotoDetail> {
    const catalog = this.lib.catalog;
    const current = catalog.currentCaption(args.photoId);
    const ai = current?.provenance === 'ai' ? current : catalog.captionHistory(args.photoId).find((c) => c.provenance === 'ai');
    if (!ai) throw new AppError('invalid_argument', `photo ${args.photoId} has no AI caption to accept`);
    catalog.setUserCaption(args.photoId, ai.text);
    return this.afterEdit(args.photoId);
  }

  async regenerateCaption(args: ParsedArgsOf<'regenerateCaption'>): Promise<PhotoDetail> {
    const path = presentPath(this.lib.catalog, args.photoId);
    const { result, options, modelId, convertedAt } = await this.chat.caption(args.requestId, path, args.options);
    // Stored with what made it (provenance), as the indexer stores it; it becomes current unless the
    // user wrote the current one.
    this.lib.catalog.addAiCaption(args.photoId, {
      text: result.text, modelId, prompt: options.prompt ?? null, settings: { ...options, tokenIds: result.tokenIds, modelConvertedAt: convertedAt },
    });
    return this.afterEdit(args.photoId);
  }

  async acceptTag(args: ParsedArgsOf<'acceptTag'>): Promise<PhotoDetail> {
    this.lib.catalog.acceptTag(args.photoId, args.label);
    return this.afterEdit(args.photoId);
  }

  async rejectTag(args: ParsedArgsOf<'rejectTag'>): Promise<PhotoDetail> {
    this.lib.catalog.rejectTag(args.photoId, args.label);
    return this.afterEdit(args.photoId);
  }

  async addTag(args: ParsedArgsOf<'addTag'>): Promise<PhotoDetail> {
    this.lib.catalog.addUserTag(args.photoId, args.label);
    return this.afterEdit(args.photoId);
  }

  async search(args: ParsedArgsOf<'search'>): Promise<ResultMap['search']> {
    return this.searcher.search(args);
  }

  async moreLikeThis(args: ParsedArgsOf<'moreLikeThis'>): Promise<ResultMap['moreLikeThis']> {
    return this.searcher.moreLikeThis(args.photoId, args.limit);
  }

  async ask(args: ParsedArgsOf<'ask'>): Promise<ResultMap['ask']> {
    return this.chat.ask(args, presentPath(this.lib.catalog, args.photoId));
  }

  async cancel(args: ParsedArgsOf<'cancel'>): Promise<ResultMap['cancel']> {
    const conversion = this.conversions.get(args.requestId);
    conversion?.abort.abort();
    const download = this.models.cancel(args.requestId);
    return { cancelled: this.chat.cancel(args.requestId) || conversion !== undefined || download };
  }

  async queueStatus(): Promise<ResultMap['queueStatus']> {
    return this.queue.status();
  }

  async pauseQueue(): Promise<ResultMap['pauseQueue']> {
    return this.queue.pause();
  }

  async resumeQueue(): Promise<ResultMap['resumeQueue']> {
    return this.queue.resume();
  }

  async retryFailed(): Promise<ResultMap['retryFailed']> {
    return this.queue.retryFailed();
  }

  async updateSettings(patch: ParsedArgsOf<'updateSettings'>): Promise<AppSettings> {
    if (patch.modelsDir) patch = { ...patch, modelsDir: absolute(patch.modelsDir, 'the models folder') };
    const before = this.settingsStore.get();
    const after = await this.settingsStore.update(patch);
    if (before.xmp !== after.xmp || before.sidecarNaming !== after.sidecarNaming || before.hierarchicalSubjects !== after.hierarchicalSubjects) {
      this.metadata = this.makeMetadata();
      // Existing captions go out in the new form; in the background, it reads every sidecar.
      void this.metadata.syncAll().catch((e) => this.events.emit('problem', toErrorData(e)));
    }
    if (before.threads !== after.threads || before.executionProvider !== after.executionProvider) void this.inference.reloadAll();
    // Low memory concerns the captioning model's halves only.
    else if (before.lowMemory !== after.lowMemory) void this.inference.reloadAll(['caption']);
    if (before.pairPreference !== after.pairPreference) {
      // The other half of each pair becomes the photo: a rescan catalogues it (its caption and tags
      // come from the shared sidecar) and marks the previous half missing.
      this.lib.pairPreference = after.pairPreference;
      for (const f of this.lib.catalog.listFolders()) void this.folders.rescan(f.id).catch((e) => this.events.emit('problem', toErrorData(e)));
    }
    this.queue.kick();
    this.events.emit('queue:status', this.queue.status());
    return after;
  }

  async setModel(args: ParsedArgsOf<'setModel'>): Promise<ResultMap['setModel']> {
    const dir = args.dir === null ? null : absolute(args.dir, 'the model folder');
    await this.settingsStore.update(args.role === 'caption' ? { captionModelDir: dir } : { retrievalModelDir: dir });
    return this.inference.setModel(args.role, dir);
  }

  /**
   * Converts a Hugging Face checkpoint in a converter process (the reads and graph building would
   * block every other call here); progress arrives as 'convert:progress' events, cancel() stops it.
   */
  async convertModel(args: ParsedArgsOf<'convertModel'>): Promise<ResultMap['convertModel']> {
    const { requestId } = args;
    const checkpointDir = absolute(args.checkpointDir, 'the checkpoint folder');
    const outDir = absolute(args.outDir, 'the output folder');
    if (this.conversions.has(requestId)) throw new AppError('invalid_argument', `request id ${requestId} is already in use`);
    const abort = new AbortController();
    const done = convertInChild(this.convertTransport, { checkpointDir, outDir, weights: args.weights }, {
      signal: abort.signal,
      onProgress: (e) => this.events.emit('convert:progress', { requestId, stage: e.stage, ...(e.part ? { part: e.part } : {}), done: false }),
    });
    this.conversions.set(requestId, { abort, done });
    try {
      await done;
    } catch (err) {
      // A cancelled conversion ends the same way, its error saying 'cancelled'.
      this.events.emit('convert:progress', { requestId, stage: 'failed', done: true, error: toErrorData(err) });
      throw err;
    } finally {
      this.conversions.delete(requestId);
    }
    this.events.emit('convert:progress', { requestId, stage: 'done', done: true });
    return { dir: outDir };
  }

  // ── models from the Hugging Face Hub (model-service.ts) ──────────────────────────────────────

  async listModels(): Promise<ResultMap['listModels']> {
    return this.models.list();
  }

  async planModelDownload(args: ParsedArgsOf<'planModelDownload'>): Promise<ResultMap['planModelDownload']> {
    return this.models.plan(args);
  }

  async pullModels(args: ParsedArgsOf<'pullModels'>): Promise<ResultMap['pullModels']> {
    return this.models.pull(args);
  }

  async verifyModel(args: ParsedArgsOf<'verifyModel'>): Promise<ResultMap['verifyModel']> {
    return this.models.verify(args);
  }

  async removeModel(args: ParsedArgsOf<'removeModel'>): Promise<ResultMap['removeModel']> {
    return this.models.remove(args);
  }

  async setHubToken(args: ParsedArgsOf<'setHubToken'>): Promise<ResultMap['setHubToken']> {
    return this.models.setToken(args);
  }

  async revealPhoto(args: ParsedArgsOf<'revealPhoto'>): Promise<ResultMap['revealPhoto']> {
    const path = presentPath(this.lib.catalog, args.photoId);
    return { shown: this.opts.revealPath?.(path) ?? false };
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  private makeMetadata(): MetadataSync {
    const s = this.settingsStore.get();
    return new MetadataSync(this.lib.catalog, { xmp: s.xmp, sidecarNaming: s.sidecarNaming, hierarchicalSubjects: s.hierarchicalSubjects },
      (e) => this.events.emit('problem', e));
  }

  /** A user edit: XMP follows, the UI hears about it, the caller gets the fresh detail. */
  private async afterEdit(photoId: number): Promise<PhotoDetail> {
    await this.metadata.write(photoId);
    this.events.emit('library:changed', { photoIds: [photoId] });
    return this.detail(photoId);
  }

  private detail(photoId: number): Promise<PhotoDetail> {
    return photoDetail(this.lib.catalog, photoId, this.settingsStore.get(), this.searcher.modelId);
  }
}

function absolute(path: string, what: string): string {
  if (!isAbsolute(path)) throw new AppError('invalid_argument', `${what} must be an absolute path, got ${JSON.stringify(path)}`);
  return resolve(path);
}

