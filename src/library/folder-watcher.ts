// Keeps the library in step with its folders after the initial scan: wraps one chokidar watcher
// per root and turns its per-file events into coalesced batches (10,000 copied photos become a
// handful of batches, never an unbounded list). Also notices a root that disappears (unplugged
// drive, folder deleted or renamed) and comes back, and falls back to polling when the OS runs
// out of inotify watches. It reports paths only; the catalog and the job queue act on them.
import { realpathSync, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import { resolve, sep } from 'node:path';
import { watch, type ChokidarOptions, type FSWatcher } from 'chokidar';
import { isCoveredByRoot, isIgnoredPath } from './scan/ignore.ts';
import { sniffImageType } from './scan/sniff.ts';
import { NewFolderSweeps } from './new-folder-sweeps.ts';

/** Paths in one batch. added/changed hold image files only (content-sniffed, like the scanner). */
export interface WatchBatch {
  added: string[];
  changed: string[];
  /** Files gone (or no longer images). Unknown paths may appear: removing them is a no-op. */
  removed: string[];
  /** Folders gone: drop everything catalogued under them, even files not listed in `removed`. */
  removedDirs: string[];
}

export interface FolderWatcherEvents {
  batch: [WatchBatch];
  /** The root vanished; its photos are offline, not deleted. No batches for it until rootBack. */
  rootGone: [{ root: string }];
  /** The root is back and watched again; rescan it (changes while it was gone were not seen). */
  rootBack: [{ root: string }];
  /** Something a person may need to act on, e.g. the inotify limit; with `root`, rescan that root. */
  warning: [{ message: string; root?: string }];
}

export interface FolderWatcherOptions {
  /** A file is reported once its size has not changed for this long (default 500 ms). */
  stabilityMs?: number;
  /** Quiet time that ends a batch (default 300 ms). */
  debounceMs?: number;
  /** A batch is delivered at least this often while events keep coming (default 2000 ms). */
  maxWaitMs?: number;
  /** Paths per batch; reaching it delivers at once (default 1000). */
  maxBatch?: number;
  /** How often each root's existence is checked (default 3000 ms). */
  rootCheckMs?: number;
  /** Start in polling mode (network shares, where inotify sees nothing). Default false. */
  usePolling?: boolean;
  /** Stat interval when polling (default 2000 ms). */
  pollIntervalMs?: number;
  /** Creates the chokidar watcher; replaceable so tests can inject watcher errors. */
  createWatcher?: (root: string, options: ChokidarOptions) => FSWatcher;
}

type Kind = 'add' | 'change' | 'unlink' | 'unlinkDir';

interface RootState {
  root: string;
  realRoot: string;
  fsw?: FSWatcher;
  ready: Promise<void>;
  polling: boolean;
  switching: boolean;
  gone: boolean;
  /** dev:ino of the root folder while present; while gone, what stood there when it went. */
  key?: string;
}

const SNIFF_CONCURRENCY = 8;

export class FolderWatcher extends EventEmitter<FolderWatcherEvents> {
  private readonly opts: Required<Omit<FolderWatcherOptions, 'createWatcher'>> & Pick<FolderWatcherOptions, 'createWatcher'>;
  private readonly roots = new Map<string, RootState>();
  private pending = new Map<string, Kind>();
  /**
   * Files that arrived but were not (yet) readable as images when sniffed: a copy still being
   * written can look empty or cut. Their next change that is an image is reported as an add, so a
   * new photo is never announced as a change of something the consumer never saw.
   */
  private readonly notYetImages = new Set<string>();
  private timer?: NodeJS.Timeout;
  private batchStart?: number;
  private readonly checkTimer: NodeJS.Timeout;
  /** Deliveries and root state changes run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** New folders listed again once settled: files written before chokidar watched them are not lost. */
  private readonly sweeps: NewFolderSweeps;

  constructor(roots: string[], opts: FolderWatcherOptions = {}) {
    super();
    this.opts = { stabilityMs: 500, debounceMs: 300, maxWaitMs: 2000, maxBatch: 1000, rootCheckMs: 3000, usePolling: false, pollIntervalMs: 2000, ...opts };
    this.sweeps = new NewFolderSweeps(Math.max(2000, 4 * this.opts.stabilityMs), (file) => this.record('add', file, true), (path) => {
      const s = this.rootOf(path);
      return !s || isIgnoredPath(path, s.root);
    });
    for (const r of roots) void this.addRoot(r);
    this.checkTimer = setInterval(() => this.enqueue(() => this.checkRoots()), this.opts.rootCheckMs);
  }

  /** Starts watching another root; resolves once its watches are in place. */
  addRoot(root: string): Promise<void> {
    const abs = resolve(root);
    const existing = this.roots.get(abs);
    if (existing) return existing.ready;
    const s: RootState = { root: abs, realRoot: abs, ready: Promise.resolve(), polling: this.opts.usePolling, switching: false, gone: false };
    this.roots.set(abs, s);
    s.ready = (async () => {
      const key = await folderKey(abs);
      if (key === undefined) return this.markGone(s, undefined); // missing at start: wait for it
      s.key = key;
      await this.startWatching(s);
    })().catch((err: unknown) => {
      this.emit('warning', { root: abs, message: `cannot watch ${abs}: ${(err as Error).message}` });
    });
    return s.ready;
  }

  /** Resolves when every root added so far is watched (or known to be gone). */
  async ready(): Promise<void> {
    await Promise.all([...this.roots.values()].map((s) => s.ready));
  }

  async removeRoot(root: string): Promise<void> {
    const s = this.roots.get(resolve(root));
    if (!s) return;
    this.roots.delete(s.root);
    await s.fsw?.close();
  }

  /** Stops everything; events not yet delivered are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.checkTimer);
    clearTimeout(this.timer);
    this.sweeps.close();
    this.pending.clear();
    await Promise.all([...this.roots.values()].map((s) => s.fsw?.close()));
    this.roots.clear();
  }

  private async startWatching(s: RootState): Promise<void> {
    s.realRoot = await realpath(s.root).catch(() => s.root);
    if (this.closed || this.roots.get(s.root) !== s) return; // closed or removed meanwhile
    const stability = this.opts.stabilityMs;
    const options: ChokidarOptions = {
      ignoreInitial: true, // the scanner does the first pass
      followSymlinks: true, // as the scanner; links into or above the root are ignored below
      ignorePermissionErrors: true, // unreadable entries are the scanner's to report
      usePolling: s.polling,
      interval: this.opts.pollIntervalMs,
      binaryInterval: this.opts.pollIntervalMs,
      awaitWriteFinish: { stabilityThreshold: stability, pollInterval: Math.max(20, Math.min(100, stability / 4)) },
      ignored: (p: string, stats?: Stats) => this.ignored(s, p, stats),
    };
    const fsw = (this.opts.createWatcher ?? watch)(s.root, options);
    s.fsw = fsw;
    for (const kind of ['add', 'change', 'unlink', 'unlinkDir'] as const) fsw.on(kind, (p: string) => this.record(kind, p));
    fsw.on('addDir', (p: string) => p !== s.root && this.sweeps.folderAdded(p));
    fsw.on('error', (err) => this.onWatchError(s, err as NodeJS.ErrnoException));
    await new Promise<void>((res) => fsw.once('ready', () => res()));
    if (this.closed || this.roots.get(s.root) !== s) await fsw.close();
  }

  private ignored(s: RootState, p: string, stats?: Stats): boolean {
    if (isIgnoredPath(p, s.root)) return true;
    if (!stats?.isSymbolicLink()) return false;
    // chokidar asks synchronously; links are rare enough for blocking calls to be harmless.
    // Same rule as the scanner: links into or above the root are not followed.
    try {
      return isCoveredByRoot(realpathSync(p), s.realRoot);
    } catch {
      return false; // dangling link: nothing to follow, nothing to loop
    }
  }

  /** `fromSweep`: a file of a new folder the watcher did not report (new-folder-sweeps.ts). */
  private record(kind: Kind, path: string, fromSweep = false): void {
    if (this.closed) return;
    if (kind === 'add' && !fromSweep && this.sweeps.reportedBySweep(path)) {
      // Reported by a sweep already; only a file that was not an image yet then still needs its word.
      if (!this.notYetImages.has(path)) return;
      kind = 'change';
    }
    const prev = this.pending.get(path);
    // Collapse per path: the last word wins, except add+change stays an add and a file removed
    // then recreated within one batch is a change.
    const next = prev === 'add' && kind === 'change' ? 'add' : prev === 'unlink' && kind === 'add' ? 'change' : kind;
    this.pending.set(path, next);
    if (this.pending.size >= this.opts.maxBatch) return this.flush();
    const now = Date.now();
    this.batchStart ??= now;
    clearTimeout(this.timer);
    const wait = Math.min(this.opts.debounceMs, Math.max(0, this.batchStart + this.opts.maxWaitMs - now));
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.batchStart = undefined;
    if (this.pending.size === 0) return;
    const events = this.pending;
    this.pending = new Map();
    this.enqueue(() => this.deliver(events));
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err: unknown) => {
      if (!this.closed) this.emit('warning', { message: `folder watcher: ${(err as Error).message}` });
    });
  }

  private async deliver(events: Map<string, Kind>): Promise<void> {
    // A root losing entries may itself be gone: then its files are offline, not deleted.
    const losing = new Set<RootState>();
    for (const [p, kind] of events) {
      const s = kind === 'unlink' || kind === 'unlinkDir' ? this.rootOf(p) : undefined;
      if (s) losing.add(s);
    }
    for (const s of losing) await this.checkRoot(s);

    const batch: WatchBatch = { added: [], changed: [], removed: [], removedDirs: [] };
    const toSniff: [string, Kind][] = [];
    for (const [p, kind] of events) {
      const s = this.rootOf(p);
      if (!s || s.gone) continue;
      if (kind === 'unlink') {
        if (this.notYetImages.delete(p)) continue; // never reported: nothing to remove
        batch.removed.push(p);
      }
      else if (kind === 'unlinkDir') batch.removedDirs.push(p);
      else toSniff.push([p, kind]);
    }
    for (let i = 0; i < toSniff.length; i += SNIFF_CONCURRENCY) {
      await Promise.all(toSniff.slice(i, i + SNIFF_CONCURRENCY).map(async ([p, kind]) => {
        const type = await sniffImageType(p).catch(() => undefined);
        const arrived = kind === 'add' || this.notYetImages.has(p);
        if (type) {
          this.notYetImages.delete(p);
          (arrived ? batch.added : batch.changed).push(p);
        } else if (arrived) {
          if (this.notYetImages.size < 100_000) this.notYetImages.add(p);
        } else batch.removed.push(p); // no longer an image (or gone again)
      }));
    }
    if (this.closed) return;
    if (batch.added.length + batch.changed.length + batch.removed.length + batch.removedDirs.length === 0) return;
    for (const list of Object.values(batch)) list.sort();
    this.emit('batch', batch);
  }

  private rootOf(path: string): RootState | undefined {
    let best: RootState | undefined; // the innermost, should roots be nested
    for (const s of this.roots.values()) {
      const under = path === s.root || path.startsWith(s.root.endsWith(sep) ? s.root : s.root + sep);
      if (under && (!best || s.root.length > best.root.length)) best = s;
    }
    return best;
  }

  private async checkRoots(): Promise<void> {
    for (const s of [...this.roots.values()]) await this.checkRoot(s);
  }

  /**
   * Compares the root folder's identity (device + inode) with the last one seen. Missing, not a
   * folder, or on another device (a drive unmounted, leaving its empty mount point) means gone; a
   * new inode on the same device means deleted and recreated, which is gone and back at once.
   */
  private async checkRoot(s: RootState): Promise<void> {
    if (this.closed || !this.roots.has(s.root) || s.switching) return;
    const key = await folderKey(s.root);
    if (!s.gone) {
      if (key === s.key) return;
      const recreated = key !== undefined && s.key !== undefined && key.split(':')[0] === s.key.split(':')[0];
      await this.markGone(s, recreated ? undefined : key);
      if (recreated) await this.markBack(s, key);
    } else if (key !== undefined && key !== s.key) {
      await this.markBack(s, key);
    }
  }

  private async markGone(s: RootState, keyNow: string | undefined): Promise<void> {
    s.gone = true;
    s.key = keyNow;
    const fsw = s.fsw;
    s.fsw = undefined;
    await fsw?.close(); // its watches point at a folder that no longer stands there
    if (!this.closed) this.emit('rootGone', { root: s.root });
  }

  private async markBack(s: RootState, key: string): Promise<void> {
    // Watch first, then announce: the consumer's rescan starts with no gap in coverage.
    await this.startWatching(s);
    s.key = key; // only now: if watching failed, the next check tries again
    s.gone = false;
    if (!this.closed) this.emit('rootBack', { root: s.root });
  }

  private onWatchError(s: RootState, err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    if ((err.code === 'ENOSPC' || err.code === 'EMFILE') && !s.polling) {
      if (s.switching) return; // chokidar reports one error per path that failed
      s.switching = true;
      this.emit('warning', { root: s.root, message: watchLimitMessage(s.root, err.code, this.opts.pollIntervalMs) });
      this.enqueue(async () => {
        await s.fsw?.close();
        s.fsw = undefined;
        s.polling = true;
        if (!s.gone && !this.closed) await this.startWatching(s);
        s.switching = false;
      });
      return;
    }
    this.emit('warning', { message: `while watching ${s.root}: ${err.message}` });
  }
}

function watchLimitMessage(root: string, code: string, pollMs: number): string {
  const limit =
    code === 'ENOSPC'
      ? 'the system limit on watched files and folders (inotify max_user_watches) was reached. ' +
        'To raise it on Linux: `sudo sysctl fs.inotify.max_user_watches=1048576`, and add the line ' +
        '`fs.inotify.max_user_watches=1048576` to /etc/sysctl.d/60-inotify.conf to keep it after a restart.'
      : 'too many watch instances or open files (EMFILE). To raise the limits on Linux: ' +
        '`sudo sysctl fs.inotify.max_user_instances=1024` (persist it in /etc/sysctl.d/60-inotify.conf) ' +
        'and/or the open-file limit (`ulimit -n`).';
  return (
    `Cannot watch ${root} for changes: ${limit} ` +
    `Until then this folder is checked by polling every ${pollMs / 1000} s, which is slower and uses more ` +
    'CPU; changes made while switching may have been missed, so rescan it.'
  );
}

/** dev:ino of a folder, or undefined when it is missing or not a folder. */
async function folderKey(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    return st.isDirectory() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}
