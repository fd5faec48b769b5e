// Captions with their history. The rule that matters: a caption the user wrote is never replaced by
// model output. AI captions are always stored (with model, prompt and settings, so a result can be
// reproduced) but only become current when the current caption is not the user's.
import { AppError } from '../../shared/errors.ts';
import { type Ctx, immediate, requireRow, stmt } from './connection.ts';
import type { AiCaptionInput, Caption, Provenance } from './types.ts';

interface CaptionRow {
  id: number;
  photo_id: number;
  text: string;
  model_id: string | null;
  prompt: string | null;
  settings: string | null;
  provenance: Provenance;
  created_at: number;
  is_current: number;
}

const toCaption = (r: CaptionRow): Caption => ({
  id: r.id, photoId: r.photo_id, text: r.text, modelId: r.model_id, prompt: r.prompt,
  settings: r.settings === null ? null : (JSON.parse(r.settings) as Record<string, unknown>),
  provenance: r.provenance, createdAt: r.created_at, isCurrent: r.is_current === 1,
});

export function addAiCaption(ctx: Ctx, photoId: number, input: AiCaptionInput): Caption {
  const text = cleanText(input.text, 'AI caption');
  if (typeof input.modelId !== 'string' || input.modelId === '') throw new AppError('invalid_argument', 'an AI caption needs the id of the model that wrote it');
  const settings = input.settings == null ? null : JSON.stringify(input.settings);
  return immediate(ctx.db, () => {
    requireRow(ctx, 'photos', photoId);
    const current = currentCaption(ctx, photoId);
    const becomesCurrent = current?.provenance !== 'user';
    if (becomesCurrent) clearCurrent(ctx, photoId);
    return insert(ctx, photoId, { text, modelId: input.modelId, prompt: input.prompt ?? null, settings, provenance: 'ai', isCurrent: becomesCurrent });
  });
}

/** The user's caption becomes current; typing the current text again adds no history entry. */
export function setUserCaption(ctx: Ctx, photoId: number, text: string): Caption {
  const clean = cleanText(text, 'caption');
  return immediate(ctx.db, () => {
    requireRow(ctx, 'photos', photoId);
    const current = currentCaption(ctx, photoId);
    if (current && current.provenance === 'user' && current.text === clean) return current;
    clearCurrent(ctx, photoId);
    return insert(ctx, photoId, { text: clean, modelId: null, prompt: null, settings: null, provenance: 'user', isCurrent: true });
  });
}

export function currentCaption(ctx: Ctx, photoId: number): Caption | undefined {
  const row = stmt<CaptionRow>(ctx.db, 'SELECT * FROM captions WHERE photo_id = ? AND is_current = 1').get(photoId);
  return row && toCaption(row);
}

/** Every caption of the photo, newest first. */
export function captionHistory(ctx: Ctx, photoId: number): Caption[] {
  return stmt<CaptionRow>(ctx.db, 'SELECT * FROM captions WHERE photo_id = ? ORDER BY id DESC').all(photoId).map(toCaption);
}

/** Whether this exact text was ever a caption of the photo, whoever wrote it. */
export function hasCaptionText(ctx: Ctx, photoId: number, text: string): boolean {
  return stmt(ctx.db, 'SELECT 1 FROM captions WHERE photo_id = ? AND text = ?').get(photoId, text.trim()) !== undefined;
}

function clearCurrent(ctx: Ctx, photoId: number): void {
  stmt(ctx.db, 'UPDATE captions SET is_current = 0 WHERE photo_id = ? AND is_current = 1').run(photoId);
}

interface NewCaption {
  text: string;
  modelId: string | null;
  prompt: string | null;
  settings: string | null;
  provenance: Provenance;
  isCurrent: boolean;
}

function insert(ctx: Ctx, photoId: number, c: NewCaption): Caption {
  const row = stmt<CaptionRow>(
    ctx.db,
    `INSERT INTO captions (photo_id, text, model_id, prompt, settings, provenance, created_at, is_current)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
  ).get(photoId, c.text, c.modelId, c.prompt, c.settings, c.provenance, ctx.now(), c.isCurrent ? 1 : 0);
  return toCaption(row!);
}

function cleanText(text: string, what: string): string {
  const clean = typeof text === 'string' ? text.trim() : '';
  if (clean === '') throw new AppError('invalid_argument', `${what} text is empty`);
  return clean;
}
