// The hidden work folder of one pull (`.<name>.pull` beside the model folders): who it is for
// (repo, commit, quantization: another pull into the same name starts afresh), a lock naming the
// process that writes it, the small source files, the journal and the growing weights. It becomes
// the model folder by a rename once complete.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { isAlive } from '../builder/convert.ts';
import type { HubClient, HubFile, RepoSnapshot } from '../hub/hub-client.ts';

const IDENTITY = 'pull.json';
const LOCK = 'pull.lock';
const JOURNAL = 'journal.jsonl';

export class WorkFolder {
  readonly sourceDir: string;

  private constructor(readonly dir: string) {
    this.sourceDir = join(dir, 'source');
  }

  /** Opens (resuming) or starts the work folder for `identity`; refuses one another live process holds. */
  static async open(dir: string, identity: Record<string, unknown>): Promise<WorkFolder> {
    const w = new WorkFolder(dir);
    const id = JSON.stringify(identity);
    if (existsSync(dir)) {
      const holder = Number(readText(join(dir, LOCK)));
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new AppError('invalid_argument', `another pull (process ${holder}) is writing ${dir}; wait for it or stop it first`, { file: dir });
      }
      if (readText(join(dir, IDENTITY)) !== id) await rm(dir, { recursive: true, force: true });
    }
    await mkdir(w.sourceDir, { recursive: true });
    await writeFile(join(dir, IDENTITY), id);
    await writeFile(join(dir, LOCK), String(process.pid));
    return w;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  sourcePath(name: string): string {
    return join(this.sourceDir, name);
  }

  /** A small file of the repo into source/, checked against the Hub's sha256 or size; kept across resumes. */
  async fetchSmall(hub: HubClient, snap: RepoSnapshot, file: HubFile, signal?: AbortSignal): Promise<void> {
    const to = this.sourcePath(file.path);
    if ((await stat(to).then((s) => s.size, () => -1)) === file.size && (!file.sha256 || sha256(readFileSync(to)) === file.sha256)) return;
    const bytes = await hub.readSmall(snap.repo, snap.commit, file.path, signal);
    if (bytes.byteLength !== file.size || (file.sha256 && sha256(bytes) !== file.sha256)) {
      throw new AppError('integrity_failed', `downloaded ${bytes.byteLength} bytes that do not match the Hub's listing (${file.size} bytes${file.sha256 ? `, sha256 ${file.sha256}` : ''})`, { file: `${snap.repo}/${file.path}` });
    }
    await mkdir(join(to, '..'), { recursive: true });
    await writeFile(to, bytes);
  }

  /** Copies the small source files next to kept shards (--keep-checkpoint): a complete HF folder. */
  async keepSideFiles(dest: string): Promise<void> {
    await mkdir(dest, { recursive: true });
    for (const name of await readdir(this.sourceDir)) await copyFile(this.sourcePath(name), join(dest, name));
  }

  /** Everything but the model itself: source files, journal, identity. The lock goes with release(). */
  async clearBookkeeping(): Promise<void> {
    await rm(this.sourceDir, { recursive: true, force: true });
    await rm(this.path(JOURNAL), { force: true });
    await rm(this.path(IDENTITY), { force: true });
    await rm(this.path(LOCK), { force: true });
  }

  async release(): Promise<void> {
    if (readText(join(this.dir, LOCK)) === String(process.pid)) await rm(join(this.dir, LOCK), { force: true });
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
