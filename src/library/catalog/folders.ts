// Watched folders. Taking a folder offline (drive unplugged, share unreachable) only flips states:
// its files become 'offline' and keep their photos, captions and tags; the next scan after it comes
// back confirms each file ('present') or marks it 'missing'.
import { AppError } from '../../shared/errors.ts';
import { type Ctx, immediate, requireAbsolute, requireRow, stmt } from './connection.ts';
import type { Folder, FolderStatus } from './types.ts';

interface FolderRow {
  id: number;
  path: string;
  status: FolderStatus;
  added_at: number;
  last_scan_at: number | null;
}

const toFolder = (r: FolderRow): Folder => ({ id: r.id, path: r.path, status: r.status, addedAt: r.added_at, lastScanAt: r.last_scan_at });

/** Adds a folder, or returns the existing one with that path (adding twice is not an error). */
export function addFolder(ctx: Ctx, path: string): Folder {
  requireAbsolute(path, 'folder path');
  return immediate(ctx.db, () => {
    stmt(ctx.db, 'INSERT INTO folders (path, added_at) VALUES (?, ?) ON CONFLICT (path) DO NOTHING').run(path, ctx.now());
    return folderByPath(ctx, path)!;
  });
}

export function listFolders(ctx: Ctx): Folder[] {
  return stmt<FolderRow>(ctx.db, 'SELECT * FROM folders ORDER BY path').all().map(toFolder);
}

export function folderByPath(ctx: Ctx, path: string): Folder | undefined {
  const row = stmt<FolderRow>(ctx.db, 'SELECT * FROM folders WHERE path = ?').get(path);
  return row && toFolder(row);
}

export function folderById(ctx: Ctx, id: number): Folder | undefined {
  const row = stmt<FolderRow>(ctx.db, 'SELECT * FROM folders WHERE id = ?').get(id);
  return row && toFolder(row);
}

/**
 * Going offline marks the folder's present files 'offline' (missing ones stay missing). Coming back
 * online changes no file: only the scan knows which files are really still there.
 */
export function setFolderStatus(ctx: Ctx, id: number, status: FolderStatus): void {
  if (status !== 'online' && status !== 'offline') throw new AppError('invalid_argument', `unknown folder status ${JSON.stringify(status)}`);
  immediate(ctx.db, () => {
    requireRow(ctx, 'folders', id);
    stmt(ctx.db, 'UPDATE folders SET status = ? WHERE id = ?').run(status, id);
    if (status === 'offline') {
      stmt(ctx.db, `UPDATE photo_files SET state = 'offline' WHERE folder_id = ? AND state = 'present'`).run(id);
    }
  });
}

/** Records the end of a full scan, so the UI can say how fresh the folder's view is. */
export function touchFolderScan(ctx: Ctx, id: number): void {
  const r = stmt(ctx.db, 'UPDATE folders SET last_scan_at = ? WHERE id = ?').run(ctx.now(), id);
  if (r.changes === 0) requireRow(ctx, 'folders', id);
}

/**
 * Drops the folder and its files. Photos with no copy left become 'missing' (hidden) but keep their
 * captions and tags, so the same bytes added again get them back; their waiting jobs are dropped.
 * Returns false when there was no such folder.
 */
export function removeFolder(ctx: Ctx, id: number): boolean {
  return immediate(ctx.db, () => {
    const photoIds = stmt(ctx.db, 'SELECT DISTINCT photo_id FROM photo_files WHERE folder_id = ?').pluck().all(id) as number[];
    if (stmt(ctx.db, 'DELETE FROM folders WHERE id = ?').run(id).changes === 0) return false; // photo_files rows cascade
    for (const photoId of photoIds) {
      if (stmt(ctx.db, `SELECT 1 FROM photo_files WHERE photo_id = ? AND state <> 'missing'`).get(photoId)) continue;
      stmt(ctx.db, `UPDATE photos SET state = 'missing' WHERE id = ?`).run(photoId);
      // Waiting work for a photo that is gone would only inflate the queue.
      stmt(ctx.db, `DELETE FROM jobs WHERE photo_id = ? AND state = 'pending'`).run(photoId);
    }
    return true;
  });
}
