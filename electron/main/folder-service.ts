// The library's folders in the running app: adding, removing and rescanning them, one chokidar
// watcher over all of them, and scans in the background (a folder of 10,000 photos must not hold
// up the call that added it). While a scan runs, the UI hears 'library:changed' about once a second
// so the grid fills as photos arrive; the queue is nudged at the same time so captioning overlaps it.
import type { FolderWatcher, FolderWatcherOptions } from '../../src/library/folder-watcher.ts';
import type { Library } from '../../src/library/library.ts';
import type { Folder } from '../../src/library/catalog/types.ts';
import type { FolderView } from '../../src/shared/app-types.ts';
import { AppError, toErrorData } from '../../src/shared/errors.ts';
import type { EventHub } from './event-hub.ts';
import { folderView } from './photo-views.ts';

/** How often a running scan tells the UI that more photos are in. */
const SCAN_NOTIFY_MS = 1000;

interface ScanRun {
  abort: AbortController;
  done: Promise<void>;
}

export interface FolderServiceOptions {
  lib: Library;
  events: EventHub;
  /** New photos may have queued work. */
  onPhotosChanged: () => void;
  watcher?: FolderWatcherOptions;
}

export class FolderService {
  private watcher: FolderWatcher | undefined;
  private readonly scans = new Map<number, ScanRun>();
  private closed = false;

  constructor(private readonly o: FolderServiceOptions) {}

  /** Starts watching every folder and rescans them all (changes made while the app was closed). */
  start(): void {
    this.watcher = this.o.lib.watch(this.o.watcher ?? {}, () => this.changed({}));
    this.watcher.on('warning', ({ message }) => this.o.events.emit('problem', { code: 'io_error', message }));
    for (const f of this.o.lib.catalog.listFolders()) this.scan(f);
    // A file created after the first walk passed its folder but before chokidar was ready is seen by
    // neither: one more pass once the watcher is ready (cheap: unchanged files are not hashed again).
    const watcher = this.watcher;
    void watcher.ready().then(async () => {
      for (const f of this.o.lib.catalog.listFolders()) {
        await this.scans.get(f.id)?.done;
        if (this.watcher === watcher) this.scan(f);
      }
    }).catch(() => {});
  }

  views(): FolderView[] {
    return this.o.lib.catalog.listFolders().map((f) => this.view(f));
  }

  view(folder: Folder): FolderView {
    return folderView(this.o.lib.catalog, folder, { scanning: this.scans.has(folder.id), watching: this.watcher !== undefined });
  }

  /** Adds (or finds) the folder, starts watching it and scans it in the background. */
  async add(path: string): Promise<FolderView> {
    const folder = this.o.lib.addFolder(path);
    await this.watcher?.addRoot(folder.path);
    this.scan(folder);
    this.changed({ folders: true });
    return this.view(folder);
  }

  async rescan(folderId: number): Promise<FolderView> {
    const folder = this.require(folderId);
    this.scan(folder);
    return this.view(folder);
  }

  /**
   * Stops watching the folder and drops its files from the catalog. Photos with no copy left become
   * 'missing' (hidden) but keep their captions and tags: the same bytes added again get them back.
   */
  async remove(folderId: number): Promise<boolean> {
    const folder = this.o.lib.catalog.folder(folderId);
    if (!folder) return false;
    const run = this.scans.get(folderId);
    run?.abort.abort();
    await run?.done;
    await this.watcher?.removeRoot(folder.path);
    this.o.lib.catalog.removeFolder(folderId);
    this.changed({ folders: true });
    return true;
  }

  /** Resolves when no scan is running (tests, and a clean shutdown). */
  async idle(): Promise<void> {
    while (this.scans.size) await Promise.all([...this.scans.values()].map((s) => s.done));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.scans.values()) s.abort.abort();
    await this.idle();
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private require(folderId: number): Folder {
    const folder = this.o.lib.catalog.folder(folderId);
    if (!folder) throw new AppError('invalid_argument', `no folder with id ${folderId}`);
    return folder;
  }

  /** Scans in the background; a scan already running for the folder is reused. */
  private scan(folder: Folder): void {
    if (this.closed || this.scans.has(folder.id)) return;
    const abort = new AbortController();
    const timer = setInterval(() => this.changed({}), SCAN_NOTIFY_MS);
    const done = (async () => {
      try {
        await this.o.lib.scan(folder, abort.signal);
      } catch (err) {
        if (!abort.signal.aborted) this.o.events.emit('problem', toErrorData(err));
      } finally {
        clearInterval(timer);
        this.scans.delete(folder.id);
        if (!this.closed) this.changed({ folders: true });
      }
    })();
    this.scans.set(folder.id, { abort, done });
  }

  private changed(what: { folders?: boolean }): void {
    if (this.closed) return;
    this.o.events.emit('library:changed', what);
    this.o.onPhotosChanged();
  }
}
