// Tags per photo, one row per (photo, label), labels compared case-insensitively. The user's word
// wins: a rejected label is remembered as 'rejected' so the model can never bring it back, and
// model output never changes a tag the user added or accepted.
import { AppError } from '../../shared/errors.ts';
import { type Ctx, immediate, requireRow, stmt } from './connection.ts';
import type { Provenance, Tag, TagState } from './types.ts';

interface TagRow {
  photo_id: number;
  label: string;
  provenance: Provenance;
  score: number | null;
  state: TagState;
  created_at: number;
}

const toTag = (r: TagRow): Tag => ({ photoId: r.photo_id, label: r.label, provenance: r.provenance, score: r.score, state: r.state, createdAt: r.created_at });

export interface AiTag {
  label: string;
  score: number;
}

/**
 * Adds the model's labels as suggestions. An existing AI tag only gets the new score (an accepted
 * one stays accepted); rejected and user tags are left exactly as they are. Returns how many
 * labels were new.
 */
export function addAiTags(ctx: Ctx, photoId: number, tags: readonly AiTag[]): number {
  const clean = tags.map((t) => ({ label: cleanLabel(t.label), score: Number.isFinite(t.score) ? t.score : null }));
  return immediate(ctx.db, () => {
    requireRow(ctx, 'photos', photoId);
    let added = 0;
    for (const t of clean) {
      const existing = find(ctx, photoId, t.label);
      if (!existing) {
        insert(ctx, photoId, t.label, 'ai', t.score, 'suggested');
        added++;
      } else if (existing.provenance === 'ai' && existing.state !== 'rejected') {
        stmt(ctx.db, 'UPDATE tags SET score = ? WHERE photo_id = ? AND label = ?').run(t.score, photoId, t.label);
      }
    }
    return added;
  });
}

/**
 * The model's current suggestions for the photo: like addAiTags, and AI suggestions no longer in
 * `tags` (e.g. after the thresholds were re-calibrated) are withdrawn. Accepted, rejected and user
 * tags are never touched. Returns how many labels were new.
 */
export function replaceAiSuggestions(ctx: Ctx, photoId: number, tags: readonly AiTag[]): number {
  const keep = new Set(tags.map((t) => cleanLabel(t.label).toLowerCase()));
  return immediate(ctx.db, () => {
    const stale = (stmt(ctx.db, `SELECT label FROM tags WHERE photo_id = ? AND provenance = 'ai' AND state = 'suggested'`)
      .all(photoId) as { label: string }[]).filter((r) => !keep.has(r.label.toLowerCase()));
    const del = stmt(ctx.db, `DELETE FROM tags WHERE photo_id = ? AND label = ? AND provenance = 'ai' AND state = 'suggested'`);
    for (const r of stale) del.run(photoId, r.label);
    return addAiTags(ctx, photoId, tags);
  });
}

/**
 * Records an AI suggestion read back from our own sidecar (no score: it was not computed here).
 * Any existing row wins, so this never demotes a user's tag. Returns whether a row was added.
 */
export function addImportedSuggestion(ctx: Ctx, photoId: number, label: string): boolean {
  const clean = cleanLabel(label);
  if (find(ctx, photoId, clean)) return false;
  insert(ctx, photoId, clean, 'ai', null, 'suggested');
  return true;
}

/** The user adds a label; this also overrides their own earlier rejection of it. */
export function addUserTag(ctx: Ctx, photoId: number, label: string): Tag {
  const clean = cleanLabel(label);
  return immediate(ctx.db, () => {
    requireRow(ctx, 'photos', photoId);
    const existing = find(ctx, photoId, clean);
    if (!existing) return insert(ctx, photoId, clean, 'user', null, 'accepted');
    if (existing.provenance === 'user' && existing.state === 'accepted') return existing;
    // Keep the user's spelling of the label ('Paris', not the model's 'paris').
    stmt(ctx.db, `UPDATE tags SET label = ?, provenance = 'user', state = 'accepted' WHERE photo_id = ? AND label = ?`).run(clean, photoId, clean);
    return find(ctx, photoId, clean)!;
  });
}

/** Accepts a suggestion (keeping its provenance and score); an unknown label is added as the user's. */
export function acceptTag(ctx: Ctx, photoId: number, label: string): Tag {
  return setState(ctx, photoId, label, 'accepted');
}

/** Rejects a label; rejecting one the model has not suggested yet pre-empts it. */
export function rejectTag(ctx: Ctx, photoId: number, label: string): Tag {
  return setState(ctx, photoId, label, 'rejected');
}

function setState(ctx: Ctx, photoId: number, label: string, state: 'accepted' | 'rejected'): Tag {
  const clean = cleanLabel(label);
  return immediate(ctx.db, () => {
    requireRow(ctx, 'photos', photoId);
    if (!find(ctx, photoId, clean)) return insert(ctx, photoId, clean, 'user', null, state);
    stmt(ctx.db, `UPDATE tags SET state = ? WHERE photo_id = ? AND label = ?`).run(state, photoId, clean);
    return find(ctx, photoId, clean)!;
  });
}

/** Display order: accepted tags alphabetically, then suggestions by score (best first). */
export const TAG_ORDER = `state = 'accepted' DESC, CASE WHEN state = 'accepted' THEN NULL ELSE score END DESC NULLS LAST, label`;

/** Tags to show, rejected ones left out. */
export function tagsOf(ctx: Ctx, photoId: number): Tag[] {
  return stmt<TagRow>(ctx.db, `SELECT * FROM tags WHERE photo_id = ? AND state <> 'rejected' ORDER BY ${TAG_ORDER}`).all(photoId).map(toTag);
}

/** Every row for the photo including rejected ones, for settings screens and tests. */
export function allTags(ctx: Ctx, photoId: number): Tag[] {
  return stmt<TagRow>(ctx.db, 'SELECT * FROM tags WHERE photo_id = ? ORDER BY label').all(photoId).map(toTag);
}

export function findTag(ctx: Ctx, photoId: number, label: string): Tag | undefined {
  return find(ctx, photoId, cleanLabel(label));
}

function find(ctx: Ctx, photoId: number, label: string): Tag | undefined {
  const row = stmt<TagRow>(ctx.db, 'SELECT * FROM tags WHERE photo_id = ? AND label = ?').get(photoId, label);
  return row && toTag(row);
}

function insert(ctx: Ctx, photoId: number, label: string, provenance: Provenance, score: number | null, state: TagState): Tag {
  const row = stmt<TagRow>(
    ctx.db,
    'INSERT INTO tags (photo_id, label, provenance, score, state, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *',
  ).get(photoId, label, provenance, score, state, ctx.now());
  return toTag(row!);
}

/** Trims and collapses inner whitespace so ' blue  sky ' and 'blue sky' are one label. */
export function cleanLabel(label: string): string {
  const clean = typeof label === 'string' ? label.trim().replace(/\s+/g, ' ') : '';
  if (clean === '') throw new AppError('invalid_argument', 'a tag label is empty');
  return clean;
}
