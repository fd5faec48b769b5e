// The photo library: folders → files → photos in the catalog, and jobs for what is not captioned
// yet. Scans on start find what changed while the app was closed; the watcher keeps it current.
// Used by the CLI today and by the app's main process later (no Electron here).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { AppError, type ErrorData, toErrorData } from '../shared/errors.ts';
import { Catalog } from './catalog/catalog.ts';
import type { JobQueue } from './catalog/jobs.ts';
import { PAIR_PREFERENCE_SETTING } from './catalog/settings.ts';
import type { Folder } from './catalog/types.ts';
import { FolderWatcher, type FolderWatcherOptions, type WatchBatch } from './folder-watcher.ts';
import { folderContaining, isInside } from './paths.ts';
import { DEFAULT_PAIR_PREFERENCE, indexSiblings, roleOf, type PairPreference } from './scan/companions.ts';
import { contentHash } from './scan/hash.ts';
import { photoFacts } from './scan/photo-facts.ts';
import { scanFolder } from './scan/scanner.ts';
import { findSidecar, readEmbeddedXmp, readSidecar } from './xmp/index.ts';

export interface LibraryEvents {
  /** A file or folder that could not be read; the run goes on. */
  problem?: (e: ErrorData) => void;
  log?: (message: string) => void;
}

const SCAN_CONCURRENCY = 8;

export interface ScanSummary {
  seen: number; added: number; moved: number; missing: number; problems: number;
  /** Videos skipped on purpose (not failures), and companions: Live Photo videos, the other half of a RAW+JPEG pair. */
  videos: number; companions: number;
}

export class Library {
  private constructor(readonly catalog: Catalog, private readonly events: LibraryEvents) {}

  /**
   * Which half of a RAW+JPEG pair is catalogued and captioned (the other is its companion, sharing
   * its sidecar contents). Kept in the catalog, so the CLI and the app treat one library alike.
   */
  get pairPreference(): PairPreference {
    return this.catalog.getSetting(PAIR_PREFERENCE_SETTING) === 'raw' ? 'raw' : DEFAULT_PAIR_PREFERENCE;
  }

  set pairPreference(pref: PairPreference) {
    if (pref !== 'raw' && pref !== 'jpeg') throw new AppError('invalid_argument', `the RAW+JPEG preference is jpeg or raw, got ${JSON.stringify(pref)}`);
    if (pref !== this.pairPreference) this.catalog.setSetting(PAIR_PREFERENCE_SETTING, pref);
  }

  /** The catalog's caption queue. */
  get queue(): JobQueue {
    return this.catalog.jobs;
  }

  /** Opens the catalog; jobs a killed run left 'running' go back to the queue. */
  static open(dbPath: string, events: LibraryEvents = {}): Library {
    const lib = new Library(Catalog.open(resolve(dbPath)), events);
    const recovered = lib.queue.recoverInterrupted();
    if (recovered) events.log?.(`resuming ${recovered} interrupted job(s)`);
    return lib;
  }

  close(): void {
    this.catalog.close();
  }

  addFolder(path: string): Folder {
    const abs = resolve(path);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new AppError('invalid_argument', 'not a folder', { file: abs });
    return this.catalog.addFolder(abs);
  }

  /** Scans one folder: new and changed files are recorded, vanished ones marked missing. */
  async scan(folder: Folder, signal?: AbortSignal): Promise<ScanSummary> {
    const sum: ScanSummary = { seen: 0, added: 0, moved: 0, missing: 0, problems: 0, videos: 0, companions: 0 };
    if (!existsSync(folder.path)) {
      // An unmounted drive: offline, never deleted.
      this.catalog.setFolderStatus(folder.id, 'offline');
      this.problem(new AppError('io_error', 'folder is not reachable (unmounted or moved); its photos are kept as offline', { file: folder.path }));
      return sum;
    }
    this.catalog.setFolderStatus(folder.id, 'online');
    const seen = new Set<string>();
    const onError = (e: AppError) => { sum.problems++; this.problem(e); };
    // Hashing and header reads overlap (I/O and libvips threads); catalog writes stay serial (sync).
    const inFlight = new Set<Promise<void>>();
    const onSkipped = (_path: string, role: 'video' | 'companion') => { if (role === 'video') sum.videos++; else sum.companions++; };
    for await (const f of scanFolder(folder.path, { signal, onError, onSkipped, pairPreference: this.pairPreference })) {
      seen.add(f.path);
      sum.seen++;
      const p: Promise<void> = this.ingest(f.path, folder.id, f).then((r) => {
        if (r === 'added') sum.added++;
        if (r === 'moved') sum.moved++;
        if (r === 'problem') sum.problems++;
        inFlight.delete(p);
      });
      inFlight.add(p);
      if (inFlight.size >= SCAN_CONCURRENCY) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    for (const file of this.catalog.filesUnder(folder.id)) {
      if (file.state === 'present' && !seen.has(file.path) && this.catalog.markFileMissing(file.path)) sum.missing++;
    }
    this.catalog.touchFolderScan(folder.id);
    return sum;
  }

  async scanAll(signal?: AbortSignal): Promise<ScanSummary> {
    const total: ScanSummary = { seen: 0, added: 0, moved: 0, missing: 0, problems: 0, videos: 0, companions: 0 };
    for (const folder of this.catalog.listFolders()) {
      const s = await this.scan(folder, signal);
      for (const k of Object.keys(total) as (keyof ScanSummary)[]) total[k] += s[k];
    }
    return total;
  }

  /** Records one image file (skipping the hash when size and mtime are unchanged) and queues its caption. */
  async ingest(path: string, folderId: number, known?: { size: number; mtimeMs: number }): Promise<'unchanged' | 'added' | 'moved' | 'updated' | 'problem'> {
    const prev = this.catalog.fileByPath(path);
    if (prev && known && prev.size === known.size && prev.mtimeMs === known.mtimeMs && prev.state !== 'missing') {
      this.catalog.confirmFile(path);
      this.queue.enqueue(prev.photoId, 'caption');
      return 'unchanged';
    }
    try {
      const hash = await contentHash(path);
      const facts = await photoFacts(path).catch((e: unknown) => {
        // Recorded anyway so the problem is visible in the catalog; the caption job will fail with the reason.
        this.problem(e);
        return undefined;
      });
      const st = facts ?? statSync(path);
      const r = this.catalog.recordFile({
        path, folderId, hash, size: st.size, mtimeMs: st.mtimeMs,
        width: facts?.width, height: facts?.height, format: facts?.format, exifDate: facts?.exifDate,
      });
      if (r.created && facts) await this.importExistingMetadata(r.photoId, path);
      this.queue.enqueue(r.photoId, 'caption');
      if (!facts) return 'problem';
      return r.moved ? 'moved' : r.created ? 'added' : 'updated';
    } catch (e) {
      this.problem(e);
      return 'problem';
    }
  }

  /**
   * Captions and keywords people already wrote (sidecar or embedded XMP) count as theirs; what our
   * own earlier write marked as the model's (our provenance namespace, hash-checked for the caption)
   * comes back as AI output, so a new catalog over old sidecars keeps "AI vs you".
   */
  private async importExistingMetadata(photoId: number, path: string): Promise<void> {
    try {
      const sidecar = await findSidecar(path);
      const fields = sidecar ? await readSidecar(sidecar) : await readEmbeddedXmp(path);
      if (fields && (fields.description || fields.subjects.length)) {
        const p = fields.provenance;
        const ai = new Set(p?.aiSubjects.map((s) => s.toLowerCase()));
        this.catalog.importUserMetadata(photoId, {
          description: fields.description,
          subjects: fields.subjects.filter((s) => !ai.has(s.toLowerCase())),
          ...(p?.aiSubjects.length ? { aiSubjects: p.aiSubjects } : {}),
          ...(p?.descriptionSource ? { descriptionSource: p.descriptionSource } : {}),
          ...(p?.descriptionModel ? { descriptionModel: p.descriptionModel } : {}),
        });
      }
    } catch (e) {
      this.problem(e);
    }
  }

  /** Applies one watcher batch. */
  async applyBatch(batch: WatchBatch): Promise<void> {
    for (const dir of batch.removedDirs) {
      for (const folder of this.catalog.listFolders()) {
        for (const f of this.catalog.filesUnder(folder.id)) if (isInside(dir, f.path)) this.catalog.markFileMissing(f.path);
      }
    }
    for (const p of batch.removed) this.catalog.markFileMissing(p);
    for (const p of [...batch.added, ...batch.changed]) {
      if (this.isCompanionOnDisk(p)) continue;
      const folder = this.folderOf(p);
      if (!folder) continue;
      const st = statSync(p, { throwIfNoEntry: false });
      if (st) await this.ingest(p, folder.id, { size: st.size, mtimeMs: st.mtimeMs });
    }
  }

  /** A watcher over every folder, feeding the catalog; offline/online folders handled. */
  watch(opts: FolderWatcherOptions = {}, onChange?: () => void): FolderWatcher {
    const w = new FolderWatcher(this.catalog.listFolders().map((f) => f.path), opts);
    let chain = Promise.resolve();
    const serial = (fn: () => Promise<void>) => (chain = chain.then(fn).catch((e) => this.problem(e)).then(() => onChange?.()));
    w.on('batch', (b) => serial(() => this.applyBatch(b)));
    w.on('rootGone', ({ root }) => serial(async () => {
      const f = this.catalog.folderByPath(root);
      if (f) this.catalog.setFolderStatus(f.id, 'offline');
      this.events.log?.(`${root} went offline; its photos are kept`);
    }));
    w.on('rootBack', ({ root }) => serial(async () => {
      const f = this.catalog.folderByPath(root);
      if (f) await this.scan(f);
    }));
    w.on('warning', ({ message }) => this.events.log?.(message));
    return w;
  }

  /** The watcher's view of companions: the same rule as the scan, judged against the folder as it is now. */
  private isCompanionOnDisk(path: string): boolean {
    let names: string[];
    try {
      names = readdirSync(dirname(path));
    } catch {
      return false;
    }
    return roleOf(basename(path), indexSiblings(names), this.pairPreference) !== undefined;
  }

  private folderOf(path: string): Folder | undefined {
    return folderContaining(this.catalog.listFolders(), path);
  }

  private problem(e: unknown): void {
    this.events.problem?.(toErrorData(e));
  }
}
