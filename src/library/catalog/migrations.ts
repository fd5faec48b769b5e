// Schema migrations for the catalog file. `PRAGMA user_version` holds how many of `migrations` have
// been applied; each one runs in its own IMMEDIATE transaction together with the version bump, so a
// crash mid-migration leaves the previous version intact. Never edit a shipped migration: append.
import { AppError } from '../../shared/errors.ts';
import { type Db, immediate } from './connection.ts';

export interface Migration {
  readonly description: string;
  readonly up: string | ((db: Db) => void);
}

/** Marks the file as ours ('PhAs'), so another program's SQLite file is not migrated into a catalog. */
export const APPLICATION_ID = 0x50684173;

// Times are integer milliseconds since the epoch; enums are CHECKed so a bad write fails loudly;
// STRICT tables reject values of the wrong type instead of silently storing them.
const V1 = /* sql */ `
CREATE TABLE folders (
  id           INTEGER PRIMARY KEY,
  path         TEXT    NOT NULL UNIQUE,
  status       TEXT    NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'offline')),
  added_at     INTEGER NOT NULL,
  last_scan_at INTEGER
) STRICT;

-- A photo is its content: the same bytes at two paths are one photo, and captions follow the bytes
-- through moves and renames.
CREATE TABLE photos (
  id         INTEGER PRIMARY KEY,
  hash       TEXT    NOT NULL UNIQUE,
  size       INTEGER NOT NULL,
  width      INTEGER,
  height     INTEGER,
  format     TEXT,
  exif_date  TEXT,
  first_seen INTEGER NOT NULL,
  state      TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'missing'))
) STRICT;

-- Where a photo's bytes are (or were). Rows are never deleted when a drive goes offline: the
-- state says 'offline' and the next scan confirms or marks them missing.
CREATE TABLE photo_files (
  id        INTEGER PRIMARY KEY,
  path      TEXT    NOT NULL UNIQUE,
  photo_id  INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
  folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
  mtime_ms  REAL    NOT NULL,
  size      INTEGER NOT NULL,
  seen_at   INTEGER NOT NULL,
  state     TEXT    NOT NULL DEFAULT 'present' CHECK (state IN ('present', 'missing', 'offline'))
) STRICT;
CREATE INDEX photo_files_by_photo ON photo_files (photo_id, state);
CREATE INDEX photo_files_by_folder ON photo_files (folder_id, state);

-- Every caption ever produced or typed is kept; exactly one per photo may be current.
CREATE TABLE captions (
  id         INTEGER PRIMARY KEY,
  photo_id   INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
  text       TEXT    NOT NULL,
  model_id   TEXT,
  prompt     TEXT,
  settings   TEXT    CHECK (settings IS NULL OR json_valid(settings)),
  provenance TEXT    NOT NULL CHECK (provenance IN ('ai', 'user')),
  created_at INTEGER NOT NULL,
  is_current INTEGER NOT NULL DEFAULT 0 CHECK (is_current IN (0, 1))
) STRICT;
CREATE INDEX captions_by_photo ON captions (photo_id, id);
CREATE UNIQUE INDEX captions_one_current ON captions (photo_id) WHERE is_current = 1;

-- NOCASE: 'Beach' typed by the user and 'beach' from the model are one tag, so a rejection holds.
CREATE TABLE tags (
  photo_id   INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
  label      TEXT    NOT NULL COLLATE NOCASE,
  provenance TEXT    NOT NULL CHECK (provenance IN ('ai', 'user')),
  score      REAL,
  state      TEXT    NOT NULL CHECK (state IN ('accepted', 'rejected', 'suggested')),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (photo_id, label)
) STRICT;
CREATE INDEX tags_by_label ON tags (label, state);

CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY,
  photo_id        INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
  kind            TEXT    NOT NULL CHECK (kind IN ('caption', 'tags')),
  state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  max_attempts    INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  last_error_code TEXT,
  last_error      TEXT,
  worker          TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;
-- The database, not the caller, guarantees one live job per photo and kind.
CREATE UNIQUE INDEX jobs_one_active ON jobs (photo_id, kind) WHERE state IN ('pending', 'running');
CREATE INDEX jobs_by_state ON jobs (state, updated_at, id);
CREATE INDEX jobs_by_photo ON jobs (photo_id, kind, state);

PRAGMA application_id = ${APPLICATION_ID};
`;

// Retrieval (issue 5): one embedding per photo and retrieval model (32 query vectors × 256, stored as
// fp16 or int8 with per-vector scales), app settings as JSON values, the user's own tag vocabulary
// entries, and cached text embeddings (tag prompts, queries) per model so they are computed once.
const V2 = /* sql */ `
CREATE TABLE embeddings (
  photo_id   INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
  model_id   TEXT    NOT NULL,
  storage    TEXT    NOT NULL CHECK (storage IN ('f16', 'int8')),
  queries    INTEGER NOT NULL CHECK (queries > 0),
  dim        INTEGER NOT NULL CHECK (dim > 0),
  data       BLOB    NOT NULL,
  scales     BLOB,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (photo_id, model_id)
) STRICT;
CREATE INDEX embeddings_by_model ON embeddings (model_id);

CREATE TABLE settings (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL CHECK (json_valid(value))
) STRICT;

CREATE TABLE vocabulary (
  label      TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
  prompt     TEXT    NOT NULL,
  category   TEXT,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE text_embeddings (
  model_id TEXT NOT NULL,
  text     TEXT NOT NULL,
  vector   BLOB NOT NULL,
  PRIMARY KEY (model_id, text)
) STRICT;
`;

export const migrations: readonly Migration[] = [
  { description: 'initial schema', up: V1 },
  { description: 'embeddings, settings, user vocabulary, text embedding cache', up: V2 },
];

/**
 * Brings the file at `file` up to `migrations.length`. Refuses a file written by a newer app (its
 * schema may mean things this code does not know) and a SQLite file that belongs to another program.
 */
export function migrate(db: Db, file: string, list: readonly Migration[] = migrations): number {
  const latest = list.length;
  const found = userVersion(db);
  if (found > latest) {
    throw new AppError(
      'invalid_argument',
      `the catalog was written by a newer version of Photo Assistant (schema ${found}, this version knows up to ${latest}); update the app or choose another catalog`,
      { file },
    );
  }
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (found > 0 && appId !== APPLICATION_ID) throw notOurs(file);

  for (let v = found; v < latest; v++) {
    try {
      immediate(db, () => {
        // Re-read inside the write lock: another process may have migrated since we looked.
        const now = userVersion(db);
        if (now > v) return;
        if (now === 0 && tableCount(db) > 0) throw notOurs(file);
        const step = list[v];
        if (typeof step.up === 'string') db.exec(step.up);
        else step.up(db);
        db.pragma(`user_version = ${v + 1}`);
      });
    } catch (err) {
      if (err instanceof AppError) throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw new AppError('io_error', `catalog migration ${v + 1} (${list[v].description}) failed: ${why}`, { file, cause: err });
    }
  }
  return latest;
}

function userVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function tableCount(db: Db): number {
  return (db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'`).get() as { n: number }).n;
}

function notOurs(file: string): AppError {
  return new AppError('invalid_argument', 'this SQLite database is not a Photo Assistant catalog', { file });
}
