// Library filters (folder, date, tags, caption) → the photos that match, by SQL over the catalog.
// Used by semantic search (as a predicate over the vector index), by "more like this" and by
// filter-only browsing. Only active photos ever match (a missing photo has no file to show).
// Decisions:
//   - date: the EXIF capture time (the camera's wall clock) or, without one, when the catalog first
//     saw the file (local time); bounds are inclusive and may be partial: '2023' → the whole year.
//   - tags: a photo "has" a tag the user sees on it: accepted (typed or confirmed) or suggested by the
//     model and not rejected — what tagsOf shows. A rejected tag counts as absent.
//   - caption: the current caption (user's or AI's), case-insensitive with Unicode case folding.
// The IPC contract's LibraryFiltersSchema is a subset of this schema, so its parsed value can be passed
// straight in.
import { isAbsolute, normalize, sep } from 'node:path';
import { z } from 'zod';
import { AppError } from '../../shared/errors.ts';
import { SORTS, type PhotoSort } from '../../shared/ipc-contract.ts';
import type { Catalog } from './catalog.ts';
import { ctxOf } from './connection.ts';
import { cleanLabel } from './tags.ts';

const Label = z.string().trim().min(1).max(200);

export const SearchFiltersSchema = z.strictObject({
  /** Photos with a file in this catalog folder. */
  folderId: z.number().int().positive().optional(),
  /** Photos with a file under this absolute path (any depth). */
  folder: z.string().min(1).max(4096).optional(),
  /** YYYY[-MM[-DD[THH:MM[:SS]]]], inclusive. */
  dateFrom: z.string().optional(),
  dateTo: z.string().optional(),
  /** Every one of these tags. */
  hasTags: z.array(Label).max(50).optional(),
  /** None of these tags. */
  lacksTags: z.array(Label).max(50).optional(),
  captionContains: z.string().trim().min(1).max(1000).optional(),
  /** true: has a current caption; false: has none yet. */
  captioned: z.boolean().optional(),
});
export type SearchFilters = z.infer<typeof SearchFiltersSchema>;

const KNOWN = Object.keys(SearchFiltersSchema.shape);

/** Validates filters from outside (CLI, IPC); any problem → AppError 'invalid_argument'. */
export function parseFilters(input: unknown): SearchFilters {
  const r = SearchFiltersSchema.safeParse(input ?? {});
  if (!r.success) {
    const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
    if (unknown && 'keys' in unknown) {
      throw new AppError('invalid_argument', `unknown filter "${unknown.keys[0]}"; known filters: ${KNOWN.join(', ')}`);
    }
    const issue = r.error.issues[0];
    const where = issue.path.length ? `filter "${issue.path.join('.')}"` : 'filters';
    throw new AppError('invalid_argument', `${where}: ${issue.message}`);
  }
  const f = r.data;
  if (f.dateFrom !== undefined && f.dateTo !== undefined && dateBound(f.dateFrom, 'from') > dateBound(f.dateTo, 'to')) {
    throw new AppError('invalid_argument', `dateFrom ${f.dateFrom} is after dateTo ${f.dateTo}`);
  }
  if (f.folder !== undefined) folderPrefix(f.folder);
  if (f.dateFrom !== undefined) dateBound(f.dateFrom, 'from');
  if (f.dateTo !== undefined) dateBound(f.dateTo, 'to');
  return f;
}

export function hasFilters(f: SearchFilters | undefined): boolean {
  return !!f && Object.values(f).some((v) => v !== undefined);
}

/** The photo's date as 'YYYY-MM-DDTHH:MM:SS' (offsets dropped: the wall clock is what people mean). */
export const PHOTO_DATE_SQL = `coalesce(substr(p.exif_date, 1, 19), strftime('%Y-%m-%dT%H:%M:%S', p.first_seen / 1000, 'unixepoch', 'localtime'))`;

interface Where { sql: string; params: unknown[] }

/** WHERE conditions over `photos p` (active photos only) for validated filters. */
function whereOf(catalog: Catalog, f: SearchFilters): Where {
  const conds = [`p.state = 'active'`];
  const params: unknown[] = [];
  const liveFile = `SELECT 1 FROM photo_files f WHERE f.photo_id = p.id AND f.state <> 'missing'`;
  if (f.folderId !== undefined) {
    conds.push(`EXISTS (${liveFile} AND f.folder_id = ?)`);
    params.push(f.folderId);
  }
  if (f.folder !== undefined) {
    // Paths under 'dir/' are exactly those in ['dir/', 'dir0') in byte order ('0' follows '/'); this
    // also uses the path index and avoids LIKE's wildcards in folder names.
    const prefix = folderPrefix(f.folder);
    conds.push(`EXISTS (${liveFile} AND f.path >= ? AND f.path < ?)`);
    params.push(prefix, prefix.slice(0, -1) + String.fromCharCode(sep.charCodeAt(0) + 1));
  }
  if (f.dateFrom !== undefined) {
    conds.push(`${PHOTO_DATE_SQL} >= ?`);
    params.push(dateBound(f.dateFrom, 'from'));
  }
  if (f.dateTo !== undefined) {
    conds.push(`${PHOTO_DATE_SQL} <= ?`);
    params.push(dateBound(f.dateTo, 'to'));
  }
  const tagExists = `SELECT 1 FROM tags t WHERE t.photo_id = p.id AND t.state <> 'rejected' AND t.label = ?`; // label is NOCASE
  for (const label of f.hasTags ?? []) {
    conds.push(`EXISTS (${tagExists})`);
    params.push(cleanLabel(label));
  }
  for (const label of f.lacksTags ?? []) {
    conds.push(`NOT EXISTS (${tagExists})`);
    params.push(cleanLabel(label));
  }
  if (f.captionContains !== undefined) {
    registerFunctions(catalog);
    conds.push(`EXISTS (SELECT 1 FROM captions c WHERE c.photo_id = p.id AND c.is_current = 1 AND pa_icontains(c.text, ?))`);
    params.push(f.captionContains);
  }
  if (f.captioned !== undefined) {
    conds.push(`${f.captioned ? '' : 'NOT '}EXISTS (SELECT 1 FROM captions c WHERE c.photo_id = p.id AND c.is_current = 1)`);
  }
  return { sql: conds.join(' AND '), params };
}

/** Ids of the active photos matching `filters`. */
export function matchingPhotoIds(catalog: Catalog, filters: SearchFilters): Set<number> {
  const f = parseFilters(filters);
  const w = whereOf(catalog, f);
  const rows = ctxOf(catalog).db.prepare(`SELECT p.id FROM photos p WHERE ${w.sql}`).pluck().all(...w.params) as number[];
  return new Set(rows);
}

/**
 * A predicate for the vector index. Without filters it only excludes photos that are not active
 * (usually few, so the set is small); with filters it is membership in the matching set.
 */
export function photoPredicate(catalog: Catalog, filters: SearchFilters | undefined): (photoId: number) => boolean {
  if (!hasFilters(filters)) {
    const inactive = new Set(ctxOf(catalog).db.prepare(`SELECT id FROM photos WHERE state <> 'active'`).pluck().all() as number[]);
    return inactive.size === 0 ? () => true : (id) => !inactive.has(id);
  }
  const ids = matchingPhotoIds(catalog, filters!);
  return (id) => ids.has(id);
}

export interface BrowseOptions {
  limit?: number;
  offset?: number;
  sort?: PhotoSort;
}

export interface BrowsePage {
  /** How many photos match in all (for paging). */
  total: number;
  photoIds: number[];
}

export const MAX_PAGE = 1000;

const ORDER: Record<PhotoSort, string> = {
  'date-desc': `${PHOTO_DATE_SQL} DESC, p.id DESC`,
  'date-asc': `${PHOTO_DATE_SQL} ASC, p.id ASC`,
  'added-desc': 'p.first_seen DESC, p.id DESC',
  // The file name of the photo's first live path: rtrim(path, path-without-separators) is its folder.
  name: `(SELECT substr(f.path, length(rtrim(f.path, replace(f.path, '${sep}', ''))) + 1) FROM photo_files f
            WHERE f.photo_id = p.id AND f.state <> 'missing' ORDER BY f.state = 'offline', f.path LIMIT 1) COLLATE NOCASE, p.id`,
};

/** Filter-only listing (no query), paged. */
export function browsePhotos(catalog: Catalog, filters: SearchFilters = {}, opts: BrowseOptions = {}): BrowsePage {
  const f = parseFilters(filters);
  const limit = opts.limit ?? 100;
  const offset = opts.offset ?? 0;
  const sort = opts.sort ?? 'date-desc';
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new AppError('invalid_argument', `limit must be an integer from 1 to ${MAX_PAGE}, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0) throw new AppError('invalid_argument', `offset must be a non-negative integer, got ${offset}`);
  if (!SORTS.includes(sort)) throw new AppError('invalid_argument', `unknown sort "${sort}"; known sorts: ${SORTS.join(', ')}`);
  const w = whereOf(catalog, f);
  const total = ctxOf(catalog).db.prepare(`SELECT count(*) FROM photos p WHERE ${w.sql}`).pluck().get(...w.params) as number;
  const photoIds = ctxOf(catalog).db.prepare(`SELECT p.id FROM photos p WHERE ${w.sql} ORDER BY ${ORDER[sort]} LIMIT ? OFFSET ?`)
    .pluck().all(...w.params, limit, offset) as number[];
  return { total, photoIds };
}

const FROM_TEMPLATE = '0000-01-01T00:00:00';
const TO_TEMPLATE = '9999-12-31T23:59:59';
const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?)?)?$/;

/**
 * A partial ISO date as the first or last second it covers: '2023-05' → '2023-05-01T00:00:00' (from)
 * or '2023-05-31T23:59:59' (to; compared as text, so the 31st is a safe end for every month).
 */
export function dateBound(input: string, side: 'from' | 'to'): string {
  const s = input.trim();
  const m = DATE_RE.exec(s);
  const [, , mo, d, h, mi, se] = m ?? [];
  const bad = !m || (mo && (+mo < 1 || +mo > 12)) || (d && (+d < 1 || +d > daysIn(+m[1], +mo))) || (h && +h > 23) || (mi && +mi > 59) || (se && +se > 59);
  if (bad) {
    throw new AppError('invalid_argument', `date${side === 'from' ? 'From' : 'To'} "${input}" is not a date; use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (the photo's local time)`);
  }
  const t = s.replace(' ', 'T');
  const template = side === 'from' ? FROM_TEMPLATE : TO_TEMPLATE;
  return t + template.slice(t.length);
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** 'dir' or 'dir/' → 'dir/' (normalized, absolute). */
function folderPrefix(folder: string): string {
  if (!isAbsolute(folder)) throw new AppError('invalid_argument', `filter "folder" must be an absolute path, got ${JSON.stringify(folder)}`);
  const n = normalize(folder);
  return n.endsWith(sep) ? n : n + sep;
}

const registered = new WeakSet<object>();

/** SQLite's lower() and LIKE fold ASCII only; 'Café' must match 'CAFÉ'. */
function registerFunctions(catalog: Catalog): void {
  const db = ctxOf(catalog).db;
  if (registered.has(db)) return;
  db.function('pa_icontains', { deterministic: true }, (text: unknown, needle: unknown) =>
    typeof text === 'string' && typeof needle === 'string' && text.toLowerCase().includes(needle.toLowerCase()) ? 1 : 0);
  registered.add(db);
}
