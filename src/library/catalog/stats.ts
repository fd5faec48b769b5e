// The numbers behind a `status` command: how big the library is, what is missing or offline, how
// much is captioned and what the job queue is doing. Read-only, one snapshot.
import type { Catalog } from './catalog.ts';
import { ctxOf } from './connection.ts';
import type { FailedJob, JobCounts } from './jobs.ts';
import type { FileState, FolderStatus, PhotoState } from './types.ts';

export interface FolderStats {
  id: number;
  path: string;
  status: FolderStatus;
  lastScanAt: number | null;
  files: Record<FileState, number>;
}

export interface CatalogStats {
  file: string;
  photos: Record<PhotoState, number> & { total: number };
  files: Record<FileState, number>;
  folders: FolderStats[];
  /** Active photos with a current caption, and how many of those the user wrote. */
  captioned: number;
  userCaptioned: number;
  jobs: JobCounts;
  failedJobs: FailedJob[];
}

export function stats(catalog: Catalog): CatalogStats {
  const db = ctxOf(catalog).db;
  return db.transaction((): CatalogStats => {
    const photos = { active: 0, missing: 0, total: 0 };
    for (const r of db.prepare('SELECT state, count(*) AS n FROM photos GROUP BY state').all() as { state: PhotoState; n: number }[]) {
      photos[r.state] = r.n;
      photos.total += r.n;
    }
    const files = emptyFiles();
    const perFolder = new Map<number, Record<FileState, number>>();
    for (const r of db.prepare('SELECT folder_id, state, count(*) AS n FROM photo_files GROUP BY folder_id, state').all() as {
      folder_id: number; state: FileState; n: number;
    }[]) {
      files[r.state] += r.n;
      let f = perFolder.get(r.folder_id);
      if (!f) perFolder.set(r.folder_id, (f = emptyFiles()));
      f[r.state] = r.n;
    }
    const captions = db.prepare(
      `SELECT count(*) AS n, coalesce(sum(c.provenance = 'user'), 0) AS user FROM captions c JOIN photos p ON p.id = c.photo_id
       WHERE c.is_current = 1 AND p.state = 'active'`,
    ).get() as { n: number; user: number };
    const queue = catalog.jobs;
    return {
      file: catalog.file,
      photos,
      files,
      folders: catalog.listFolders().map((f) => ({ id: f.id, path: f.path, status: f.status, lastScanAt: f.lastScanAt, files: perFolder.get(f.id) ?? emptyFiles() })),
      captioned: captions.n,
      userCaptioned: captions.user,
      jobs: queue.counts(),
      failedJobs: queue.failedJobs(),
    };
  }).deferred();
}

function emptyFiles(): Record<FileState, number> {
  return { present: 0, missing: 0, offline: 0 };
}
