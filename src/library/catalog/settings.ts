// App settings kept in the catalog (table `settings`): one JSON value per key, so a catalog carries
// what it was built with (e.g. `retrievalModelDir`) to the next run and to the app. Values are
// plain JSON; callers own their keys and validate what they read back.
import { AppError } from '../../shared/errors.ts';
import { type Ctx, stmt } from './connection.ts';

/** Written by `index --retrieval-model`: the absolute retrieval model folder `search` uses by default. */
export const RETRIEVAL_MODEL_SETTING = 'retrievalModelDir';

/** Written by `index --pair-prefer`: which half of a RAW+JPEG pair is the photo ('jpeg' | 'raw'). */
export const PAIR_PREFERENCE_SETTING = 'pairPreference';

/** The stored value, parsed; undefined when the key was never set. */
export function getSetting<T = unknown>(ctx: Ctx, key: string): T | undefined {
  checkKey(key);
  const row = stmt<{ value: string }>(ctx.db, 'SELECT value FROM settings WHERE key = ?').get(key);
  return row === undefined ? undefined : (JSON.parse(row.value) as T);
}

/** Stores `value` (anything JSON can hold) under `key`, replacing an earlier value. */
export function setSetting(ctx: Ctx, key: string, value: unknown): void {
  checkKey(key);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new AppError('invalid_argument', `setting "${key}" cannot be stored as JSON: ${(err as Error).message}`);
  }
  // JSON.stringify(undefined) and of a function is undefined: there is nothing to store.
  if (json === undefined) throw new AppError('invalid_argument', `setting "${key}" has no JSON value (use deleteSetting to remove it)`);
  stmt(ctx.db, 'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, json);
}

/** Removes the key; returns whether it was set. */
export function deleteSetting(ctx: Ctx, key: string): boolean {
  checkKey(key);
  return stmt(ctx.db, 'DELETE FROM settings WHERE key = ?').run(key).changes > 0;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.trim() === '') throw new AppError('invalid_argument', 'a setting key must be a non-empty string');
}
