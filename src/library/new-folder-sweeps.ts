// A folder that appears under a watched root (copied in, unzipped, moved in) is read by chokidar once
// and watched from then on; files written between the two are never reported. On a busy machine that
// gap is long: a 2,000-file copy once showed 247 files and then silence. So each new folder is listed
// again once it has settled, and its files the watcher did not report are reported then. A file
// reported that way and later by the watcher too is reported once (FolderWatcher asks `reportedBySweep`).
import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';

interface Sweep {
  /** Files under the folder the watcher reported since the folder appeared. */
  seen: Set<string>;
  /** Files the sweep reported (undefined until it ran). */
  reported?: Set<string>;
  timer: NodeJS.Timeout;
}

/** How long a swept folder's record is kept, for watcher events that were still on their way. */
const KEEP_MS = 60_000;

export class NewFolderSweeps {
  private readonly sweeps = new Map<string, Sweep>();

  constructor(
    /** Quiet time before a new folder is listed (longer than the watcher's write-finish wait). */
    private readonly settleMs: number,
    /** Called with each file the watcher did not report. */
    private readonly report: (file: string) => void,
    private readonly ignored: (path: string) => boolean,
  ) {}

  /** The watcher saw a new folder. A folder inside one already waiting is covered by that one. */
  folderAdded(dir: string): void {
    if (this.covering(dir).length) return;
    const sweep: Sweep = { seen: new Set(), timer: setTimeout(() => void this.sweep(dir, sweep), this.settleMs) };
    this.sweeps.set(dir, sweep);
  }

  /** Records a file the watcher reported; true when a sweep already reported it (do not report it again). */
  reportedBySweep(file: string): boolean {
    let already = false;
    for (const s of this.covering(file)) {
      if (s.reported?.has(file)) already = true;
      else s.seen.add(file);
    }
    return already;
  }

  close(): void {
    for (const s of this.sweeps.values()) clearTimeout(s.timer);
    this.sweeps.clear();
  }

  private covering(path: string): Sweep[] {
    const out: Sweep[] = [];
    for (const [dir, s] of this.sweeps) if (path.startsWith(dir + sep)) out.push(s);
    return out;
  }

  private async sweep(dir: string, sweep: Sweep): Promise<void> {
    // Gone meanwhile (moved away, deleted): the watcher reports that; nothing to list.
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    if (this.sweeps.get(dir) !== sweep) return; // closed meanwhile
    sweep.reported = new Set();
    for (const e of entries) {
      if (!e.isFile()) continue;
      const file = join(e.parentPath, e.name);
      if (sweep.seen.has(file) || this.ignored(file)) continue;
      sweep.reported.add(file);
      this.report(file);
    }
    sweep.timer = setTimeout(() => this.sweeps.delete(dir), KEEP_MS);
  }
}
