// The SQLite connection underneath the catalog: opening the file with the pragmas the catalog relies
// on, a per-connection statement cache, and IMMEDIATE transactions. Nothing here knows the schema.
import { isAbsolute } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../../shared/errors.ts';

export type Db = Database.Database;

/** What every catalog module works with: the connection and a clock (injectable for tests). */
export interface Ctx {
  readonly db: Db;
  readonly file: string;
  readonly now: () => number;
}

/**
 * How the catalog's own modules (stats, export, filters, the job queue) reach the connection of a
 * Catalog they are given. Nothing outside src/library/catalog imports this file (the layering test
 * checks it): the rest of the app only sees the Catalog's methods, never SQL.
 */
export const CATALOG_CTX: unique symbol = Symbol('catalog connection');
export function ctxOf(catalog: { readonly [CATALOG_CTX]: Ctx }): Ctx {
  return catalog[CATALOG_CTX];
}

/** How long a writer waits for another connection's write lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens `file` and sets the connection pragmas. SQLite reads the header lazily, so a file that is
 * not a database only fails at the first statement; that is why the journal_mode pragma sits inside
 * the same try and every failure here becomes an io_error naming the file.
 */
export function openDb(file: string): Db {
  let db: Db | undefined;
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    // busy_timeout before journal_mode: switching to WAL needs a lock another process may hold.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the
    // last commits, which a rescan recreates.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Touch the schema so a corrupt first page fails here rather than in the first caller.
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    return db;
  } catch (err) {
    db?.close();
    throw new AppError('io_error', `cannot open the catalog: ${describeSqliteError(err)}`, { file, cause: err });
  }
}

function describeSqliteError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB') return 'the file is not a SQLite database';
  if (code === 'SQLITE_CORRUPT') return 'the database file is corrupt';
  if (code === 'SQLITE_BUSY') return 'the database is locked by another process';
  return err instanceof Error ? err.message : String(err);
}

// Preparing is the costly part of a statement; the scanner calls the same few thousands of times.
const statements = new WeakMap<Db, Map<string, Database.Statement>>();

export function stmt<Row = unknown>(db: Db, sql: string): Database.Statement<unknown[], Row> {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s as Database.Statement<unknown[], Row>;
}

const runners = new WeakMap<Db, Database.Transaction<(fn: () => unknown) => unknown>>();

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction (a savepoint when already inside one). IMMEDIATE takes
 * the write lock up front: a deferred transaction that reads and then writes can fail with
 * SQLITE_BUSY in WAL mode without ever waiting on the busy timeout.
 */
export function immediate<T>(db: Db, fn: () => T): T {
  let run = runners.get(db);
  if (!run) runners.set(db, (run = db.transaction((f: () => unknown) => f())));
  return run.immediate(fn) as T;
}

/** Rejects relative paths: the catalog keys rows by path, so one file must have one spelling. */
export function requireAbsolute(path: string, what: string): void {
  if (typeof path !== 'string' || !isAbsolute(path)) {
    throw new AppError('invalid_argument', `${what} must be an absolute path, got ${JSON.stringify(path)}`);
  }
}

export function requireRow(ctx: Ctx, table: 'photos' | 'folders', id: number): void {
  const row = stmt(ctx.db, `SELECT 1 FROM ${table} WHERE id = ?`).get(id);
  if (!row) throw new AppError('invalid_argument', `no ${table === 'photos' ? 'photo' : 'folder'} with id ${id} in the catalog`);
}
