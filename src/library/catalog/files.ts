// Photos and the paths they live at. A photo is keyed by its content hash, so what happens on disk
// maps onto rows like this:
//   new content, new path            → new photo + file row                         (created)
//   known content, old path gone     → the old file row takes the new path           (moved)
//   known content, old path present  → a second file row for the same photo          (duplicate copy)
//   known path, new content          → the row points at the (new or existing) photo (edited file)
// A photo is 'missing' once none of its files is present or offline; its captions and tags stay,
// so the same bytes showing up again anywhere revive it with its history.
import { existsSync } from 'node:fs';
import { AppError } from '../../shared/errors.ts';
import { type Ctx, immediate, requireAbsolute, requireRow, stmt } from './connection.ts';
import type { FileState, Photo, PhotoFile, PhotoState, RecordFileInput, RecordFileResult } from './types.ts';

interface PhotoRow {
  id: number;
  hash: string;
  size: number;
  width: number | null;
  height: number | null;
  format: string | null;
  exif_date: string | null;
  first_seen: number;
  state: PhotoState;
}

interface FileRow {
  id: number;
  path: string;
  photo_id: number;
  folder_id: number;
  hash: string;
  size: number;
  mtime_ms: number;
  seen_at: number;
  state: FileState;
}

const toPhoto = (r: PhotoRow): Photo => ({
  id: r.id, hash: r.hash, size: r.size, width: r.width, height: r.height, format: r.format,
  exifDate: r.exif_date, firstSeen: r.first_seen, state: r.state,
});

const toFile = (r: FileRow): PhotoFile => ({
  id: r.id, path: r.path, photoId: r.photo_id, folderId: r.folder_id, hash: r.hash,
  size: r.size, mtimeMs: r.mtime_ms, seenAt: r.seen_at, state: r.state,
});

const FILE_SELECT = 'SELECT f.*, p.hash FROM photo_files f JOIN photos p ON p.id = f.photo_id';

/** Records that `path` holds content `hash`, as seen by a scan or the watcher just now. */
export function recordFile(ctx: Ctx, input: RecordFileInput): RecordFileResult {
  validate(input);
  const { db } = ctx;
  return immediate(db, () => {
    requireRow(ctx, 'folders', input.folderId);
    const now = ctx.now();
    const existing = stmt<FileRow>(db, `${FILE_SELECT} WHERE f.path = ?`).get(input.path);

    let photo = stmt<{ id: number }>(db, 'SELECT id FROM photos WHERE hash = ?').get(input.hash);
    const created = !photo;
    if (!photo) {
      const r = stmt(db, `INSERT INTO photos (hash, size, width, height, format, exif_date, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?)`)
        .run(input.hash, input.size, input.width ?? null, input.height ?? null, input.format ?? null, input.exifDate ?? null, now);
      photo = { id: Number(r.lastInsertRowid) };
    } else {
      // Later scans may know more (EXIF read lazily); never erase what an earlier scan found.
      stmt(db, `UPDATE photos SET width = coalesce(?, width), height = coalesce(?, height), format = coalesce(?, format),
                exif_date = coalesce(?, exif_date) WHERE id = ?`)
        .run(input.width ?? null, input.height ?? null, input.format ?? null, input.exifDate ?? null, photo.id);
    }
    const photoId = photo.id;
    const result: RecordFileResult = { photoId, created, moved: false };

    // Unchanged content at a known path: just refresh what the scanner compares next time.
    if (existing && existing.photo_id === photoId) {
      updateFileRow(ctx, existing.id, input, photoId, now);
      refreshPhotoState(ctx, photoId);
      return result;
    }

    const gone = created ? undefined : findGoneCopy(ctx, photoId, input.path);
    if (existing) {
      // The file at this path was edited: it now reads as another photo. The old photo keeps its
      // captions and may become 'missing' if this was its only copy.
      updateFileRow(ctx, existing.id, input, photoId, now);
      refreshPhotoState(ctx, existing.photo_id);
      if (gone) stmt(db, 'DELETE FROM photo_files WHERE id = ?').run(gone.id);
    } else if (gone) {
      stmt(db, 'UPDATE photo_files SET path = ? WHERE id = ?').run(input.path, gone.id);
      updateFileRow(ctx, gone.id, input, photoId, now);
    } else {
      stmt(db, `INSERT INTO photo_files (path, photo_id, folder_id, mtime_ms, size, seen_at) VALUES (?, ?, ?, ?, ?, ?)`)
        .run(input.path, photoId, input.folderId, input.mtimeMs, input.size, now);
    }
    if (gone) Object.assign(result, { moved: true, previousPath: gone.path });
    refreshPhotoState(ctx, photoId);
    return result;
  });
}

/**
 * A copy of the photo whose path no longer holds it: marked missing by a scan, or still 'present'
 * but gone from disk because the watcher reported the new name before the old one's removal.
 * Offline copies are never taken: an unplugged drive is not a rename.
 */
function findGoneCopy(ctx: Ctx, photoId: number, newPath: string): { id: number; path: string } | undefined {
  const others = stmt<{ id: number; path: string; state: FileState }>(
    ctx.db,
    `SELECT f.id, f.path, f.state FROM photo_files f JOIN folders d ON d.id = f.folder_id
     WHERE f.photo_id = ? AND f.path <> ? AND f.state <> 'offline' AND d.status = 'online'
     ORDER BY f.state = 'missing' DESC, f.seen_at DESC`,
  ).all(photoId, newPath);
  // One stat per other copy of the same content; this only runs for duplicates and moves.
  return others.find((f) => f.state === 'missing' || !existsSync(f.path));
}

function updateFileRow(ctx: Ctx, id: number, input: RecordFileInput, photoId: number, now: number): void {
  stmt(ctx.db, `UPDATE photo_files SET photo_id = ?, folder_id = ?, mtime_ms = ?, size = ?, seen_at = ?, state = 'present' WHERE id = ?`)
    .run(photoId, input.folderId, input.mtimeMs, input.size, now, id);
}

/** Keeps photos.state in step with its files; offline copies keep a photo 'active'. */
function refreshPhotoState(ctx: Ctx, photoId: number): void {
  stmt(ctx.db, `UPDATE photos SET state = CASE WHEN EXISTS (
      SELECT 1 FROM photo_files WHERE photo_id = photos.id AND state IN ('present', 'offline')) THEN 'active' ELSE 'missing' END
    WHERE id = ?`).run(photoId);
}

/**
 * The scanner saw `path` with the size and mtime the catalog already has, so it skipped hashing:
 * confirm the row is present (this is how files of a folder back online return to 'present').
 * Returns false when the path is not in the catalog.
 */
export function confirmFile(ctx: Ctx, path: string): boolean {
  return immediate(ctx.db, () => {
    const row = stmt<{ id: number; photo_id: number }>(ctx.db, 'SELECT id, photo_id FROM photo_files WHERE path = ?').get(path);
    if (!row) return false;
    stmt(ctx.db, `UPDATE photo_files SET state = 'present', seen_at = ? WHERE id = ?`).run(ctx.now(), row.id);
    refreshPhotoState(ctx, row.photo_id);
    return true;
  });
}

/** The path is gone. The row stays (a later add of the same bytes elsewhere is then a move). */
export function markFileMissing(ctx: Ctx, path: string): boolean {
  return immediate(ctx.db, () => {
    const row = stmt<{ id: number; photo_id: number }>(ctx.db, 'SELECT id, photo_id FROM photo_files WHERE path = ?').get(path);
    if (!row) return false;
    stmt(ctx.db, `UPDATE photo_files SET state = 'missing' WHERE id = ?`).run(row.id);
    refreshPhotoState(ctx, row.photo_id);
    return true;
  });
}

export function fileByPath(ctx: Ctx, path: string): PhotoFile | undefined {
  const row = stmt<FileRow>(ctx.db, `${FILE_SELECT} WHERE f.path = ?`).get(path);
  return row && toFile(row);
}

/** Every file row of a folder in any state, to diff against the disk after the app was closed. */
export function filesUnder(ctx: Ctx, folderId: number): PhotoFile[] {
  return stmt<FileRow>(ctx.db, `${FILE_SELECT} WHERE f.folder_id = ? ORDER BY f.path`).all(folderId).map(toFile);
}

export function photo(ctx: Ctx, id: number): Photo | undefined {
  const row = stmt<PhotoRow>(ctx.db, 'SELECT * FROM photos WHERE id = ?').get(id);
  return row && toPhoto(row);
}

export function photoByHash(ctx: Ctx, hash: string): Photo | undefined {
  const row = stmt<PhotoRow>(ctx.db, 'SELECT * FROM photos WHERE hash = ?').get(hash);
  return row && toPhoto(row);
}

/** Paths where the photo can be found (present first, then offline); missing paths are left out. */
export function photoPaths(ctx: Ctx, id: number): string[] {
  return stmt<{ path: string }>(ctx.db, `SELECT path FROM photo_files WHERE photo_id = ? AND state <> 'missing' ORDER BY state = 'offline', path`)
    .all(id).map((r) => r.path);
}

/** Every file row of the photo, missing ones included. */
export function photoFiles(ctx: Ctx, id: number): PhotoFile[] {
  return stmt<FileRow>(ctx.db, `${FILE_SELECT} WHERE f.photo_id = ? ORDER BY f.path`).all(id).map(toFile);
}

export interface ListPhotosOptions {
  limit?: number;
  offset?: number;
  state?: PhotoState;
}

/** Photos in catalog order (oldest first), paged. */
export function listPhotos(ctx: Ctx, opts: ListPhotosOptions = {}): Photo[] {
  const limit = opts.limit ?? 100;
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 0 || !Number.isInteger(offset) || offset < 0) {
    throw new AppError('invalid_argument', `listPhotos needs non-negative integer limit and offset, got ${limit} and ${offset}`);
  }
  const rows = opts.state
    ? stmt<PhotoRow>(ctx.db, 'SELECT * FROM photos WHERE state = ? ORDER BY id LIMIT ? OFFSET ?').all(opts.state, limit, offset)
    : stmt<PhotoRow>(ctx.db, 'SELECT * FROM photos ORDER BY id LIMIT ? OFFSET ?').all(limit, offset);
  return rows.map(toPhoto);
}

function validate(input: RecordFileInput): void {
  requireAbsolute(input.path, 'file path');
  if (typeof input.hash !== 'string' || input.hash.length === 0) throw new AppError('invalid_argument', `recordFile needs a content hash for ${input.path}`);
  if (!Number.isFinite(input.mtimeMs)) throw new AppError('invalid_argument', `recordFile: mtimeMs must be a number for ${input.path}`);
  // STRICT INTEGER columns would reject these with a bare SQLite error; say which file instead.
  for (const key of ['size', 'width', 'height'] as const) {
    const v = input[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new AppError('invalid_argument', `recordFile: ${key} must be a non-negative integer for ${input.path}, got ${v}`);
  }
}
