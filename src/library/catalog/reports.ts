// Read models for the app's views (a photo's place in the queue, a folder's and the library's
// counts) and the rows of the user's tag vocabulary: the SQL the views and the tagger need, kept in
// the catalog so nothing outside it writes SQL.
import { type Ctx, stmt } from './connection.ts';
import type { JobState } from './jobs.ts';

/** The photo's latest caption job, as a view shows it. */
export interface JobSnapshot {
  state: JobState;
  lastError: { code: string; message: string } | null;
}

export function latestJob(ctx: Ctx, photoId: number): JobSnapshot | undefined {
  const r = stmt<{ state: JobState; last_error_code: string | null; last_error: string | null }>(
    ctx.db,
    `SELECT state, last_error_code, last_error FROM jobs WHERE photo_id = ? AND kind = 'caption' ORDER BY id DESC LIMIT 1`,
  ).get(photoId);
  return r && { state: r.state, lastError: r.last_error_code === null ? null : { code: r.last_error_code, message: r.last_error ?? '' } };
}

/** A folder's active photos: how many, captioned, waiting for a caption, failed without one. */
export interface FolderCounts { photos: number; captioned: number; pending: number; failed: number }

export function folderCounts(ctx: Ctx, folderId: number): FolderCounts {
  return stmt<FolderCounts>(
    ctx.db,
    `WITH ph AS (SELECT DISTINCT f.photo_id AS id FROM photo_files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.folder_id = ? AND f.state <> 'missing' AND p.state = 'active')
     SELECT
       (SELECT count(*) FROM ph) AS photos,
       (SELECT count(*) FROM ph WHERE EXISTS (SELECT 1 FROM captions c WHERE c.photo_id = ph.id AND c.is_current = 1)) AS captioned,
       (SELECT count(*) FROM ph WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.photo_id = ph.id AND j.kind = 'caption' AND j.state IN ('pending', 'running'))) AS pending,
       (SELECT count(*) FROM ph WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.photo_id = ph.id AND j.kind = 'caption' AND j.state = 'failed')
          AND NOT EXISTS (SELECT 1 FROM captions c WHERE c.photo_id = ph.id AND c.is_current = 1)) AS failed`,
  ).get(folderId)!;
}

/** Active photos, how many have a current caption, how many have a tag the user sees. */
export interface LibraryCounts { photos: number; captioned: number; tagged: number }

export function libraryCounts(ctx: Ctx): LibraryCounts {
  return stmt<LibraryCounts>(
    ctx.db,
    `SELECT count(*) AS photos,
       coalesce(sum(EXISTS (SELECT 1 FROM captions c WHERE c.photo_id = p.id AND c.is_current = 1)), 0) AS captioned,
       coalesce(sum(EXISTS (SELECT 1 FROM tags t WHERE t.photo_id = p.id AND t.state <> 'rejected')), 0) AS tagged
     FROM photos p WHERE p.state = 'active'`,
  ).get()!;
}

/** One of the user's own vocabulary entries as stored (validation is the tagger's). */
export interface VocabularyRow { label: string; prompt: string; category: string | null }

export function upsertVocabularyRow(ctx: Ctx, row: VocabularyRow): void {
  stmt(ctx.db, `INSERT INTO vocabulary (label, prompt, category, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (label) DO UPDATE SET label = excluded.label, prompt = excluded.prompt, category = excluded.category`)
    .run(row.label, row.prompt, row.category, ctx.now());
}

export function deleteVocabularyRow(ctx: Ctx, label: string): boolean {
  return stmt(ctx.db, 'DELETE FROM vocabulary WHERE label = ?').run(label).changes > 0;
}

export function vocabularyRows(ctx: Ctx): VocabularyRow[] {
  return stmt<VocabularyRow>(ctx.db, 'SELECT label, prompt, category FROM vocabulary ORDER BY label').all();
}
