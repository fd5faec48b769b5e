// Exports the catalog for people and other tools: JSON (one object per photo) or CSV (RFC 4180:
// CRLF rows, fields quoted when they hold a comma, quote or line break, quotes doubled). Reads the
// whole catalog in a few queries instead of one per photo.
import { AppError } from '../../shared/errors.ts';
import type { Catalog } from './catalog.ts';
import { ctxOf } from './connection.ts';
import { TAG_ORDER } from './tags.ts';
import type { Provenance } from './types.ts';

export type ExportFormat = 'json' | 'csv';

export interface ExportedPhoto {
  paths: string[];
  hash: string;
  caption: string | null;
  captionProvenance: Provenance | null;
  tags: string[];
}

export interface ExportOptions {
  /** Also export photos whose files are all gone (their paths are then the last known ones). */
  includeMissing?: boolean;
}

export const CSV_COLUMNS = ['hash', 'paths', 'caption', 'caption_provenance', 'tags'] as const;
/** Separators inside one CSV field; a path or tag containing one is ambiguous in CSV (use JSON). */
export const PATH_SEPARATOR = '|';
export const TAG_SEPARATOR = ';';

export function exportCatalog(catalog: Catalog, format: ExportFormat, opts: ExportOptions = {}): string {
  const photos = exportedPhotos(catalog, opts);
  if (format === 'json') return JSON.stringify(photos, null, 2);
  if (format === 'csv') return toCsv(photos);
  throw new AppError('invalid_argument', `unknown export format ${JSON.stringify(format)}; use json or csv`);
}

/** The rows both formats are made from, ordered by photo id. */
export function exportedPhotos(catalog: Catalog, opts: ExportOptions = {}): ExportedPhoto[] {
  const db = ctxOf(catalog).db;
  // One consistent snapshot even if a scan is writing meanwhile.
  return db.transaction(() => {
    const photos = db.prepare(`SELECT id, hash, state FROM photos ${opts.includeMissing ? '' : `WHERE state = 'active'`} ORDER BY id`)
      .all() as { id: number; hash: string; state: string }[];
    const paths = group(
      db.prepare(`SELECT photo_id AS id, path, state FROM photo_files ORDER BY photo_id, state = 'missing', state = 'offline', path`)
        .all() as { id: number; path: string; state: string }[],
    );
    const captions = new Map(
      (db.prepare('SELECT photo_id AS id, text, provenance FROM captions WHERE is_current = 1').all() as { id: number; text: string; provenance: Provenance }[])
        .map((c) => [c.id, c]),
    );
    const tags = group(
      db.prepare(`SELECT photo_id AS id, label FROM tags WHERE state <> 'rejected' ORDER BY photo_id, ${TAG_ORDER}`)
        .all() as { id: number; label: string }[],
    );
    return photos.map((p) => {
      const files = paths.get(p.id) ?? [];
      // An active photo lists where it can be found; a missing one, where it was last seen.
      const shown = p.state === 'active' ? files.filter((f) => f.state !== 'missing') : files;
      const caption = captions.get(p.id);
      return {
        paths: shown.map((f) => f.path),
        hash: p.hash,
        caption: caption?.text ?? null,
        captionProvenance: caption?.provenance ?? null,
        tags: (tags.get(p.id) ?? []).map((t) => t.label),
      };
    });
  }).deferred();
}

function group<T extends { id: number }>(rows: T[]): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const r of rows) {
    const list = m.get(r.id);
    if (list) list.push(r);
    else m.set(r.id, [r]);
  }
  return m;
}

export function toCsv(photos: readonly ExportedPhoto[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const p of photos) {
    lines.push(
      [p.hash, p.paths.join(PATH_SEPARATOR), p.caption ?? '', p.captionProvenance ?? '', p.tags.join(TAG_SEPARATOR)].map(csvField).join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
