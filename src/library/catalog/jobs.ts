// The persistent queue of captioning work, stored in the catalog's `jobs` table so it
// survives restarts and crashes. Every transition is one IMMEDIATE transaction, which makes claims
// atomic across connections and processes; `complete` writes the result and the 'done' state in the
// same transaction, so a job finished twice (after a recovery, or by two workers) applies once.
//   pending ──claimNext──▶ running ──complete──▶ done
//      ▲                      │ fail (attempts left) / release / recoverInterrupted
//      └──────────────────────┘ fail (no attempts left, or retry: false) ──▶ failed ──retryFailed──▶ pending
import { AppError } from '../../shared/errors.ts';
import { type Ctx, type Db, immediate, stmt } from './connection.ts';

/** The only kind of queued work: search vectors and tags are backfilled from the embeddings table. */
export type JobKind = 'caption';
export type JobState = 'pending' | 'running' | 'done' | 'failed';

export interface JobError {
  code: string;
  message: string;
}

export interface Job {
  id: number;
  photoId: number;
  kind: JobKind;
  state: JobState;
  attempts: number;
  maxAttempts: number;
  lastError: JobError | null;
  /** The worker that claimed it last. */
  worker: string | null;
  /** When this work was queued (last): a caption newer than that was written meanwhile. */
  createdAt: number;
  updatedAt: number;
}

/** A claimed job with a path where the photo is present right now. */
export interface ClaimedJob extends Job {
  path: string;
}

export interface FailedJob {
  jobId: number;
  photoId: number;
  kind: JobKind;
  path: string | null;
  error: JobError;
  attempts: number;
  updatedAt: number;
}

export type JobCounts = Record<JobState, number>;

export interface EnqueueOptions {
  /** Queue even if the work looks done (the photo has a caption) or gave up earlier (failed). */
  force?: boolean;
  maxAttempts?: number;
}

interface JobRow {
  id: number;
  photo_id: number;
  kind: JobKind;
  state: JobState;
  attempts: number;
  max_attempts: number;
  last_error_code: string | null;
  last_error: string | null;
  worker: string | null;
  created_at: number;
  updated_at: number;
}

const toJob = (r: JobRow): Job => ({
  id: r.id, photoId: r.photo_id, kind: r.kind, state: r.state, attempts: r.attempts, maxAttempts: r.max_attempts,
  lastError: r.last_error_code === null ? null : { code: r.last_error_code, message: r.last_error ?? '' },
  worker: r.worker, createdAt: r.created_at, updatedAt: r.updated_at,
});

/** Pending jobs whose photo has a present file, in the order claimNext takes them (@kind: one kind, or NULL for all). */
const NEXT_PENDING = `FROM jobs j
  WHERE j.state = 'pending' AND (@kind IS NULL OR j.kind = @kind)
    AND EXISTS (SELECT 1 FROM photo_files f WHERE f.photo_id = j.photo_id AND f.state = 'present')
  ORDER BY j.updated_at, j.id`;

/** The path of a photo's present file (the one seen last), for the SQL expression `photoId`. */
const presentPath = (photoId: string) =>
  `(SELECT f.path FROM photo_files f WHERE f.photo_id = ${photoId} AND f.state = 'present' ORDER BY f.seen_at DESC, f.path LIMIT 1)`;

const KINDS: ReadonlySet<string> = new Set<JobKind>(['caption']);
export const DEFAULT_MAX_ATTEMPTS = 3;

export class JobQueue {
  private readonly db: Db;
  private readonly now: () => number;

  /** Made by the catalog (`catalog.jobs`), over its connection and clock. */
  constructor(ctx: Ctx) {
    this.db = ctx.db;
    this.now = ctx.now;
  }

  /**
   * Queues work for a photo and returns the live (pending or running) job, new or existing. Returns
   * undefined when there is nothing to do: a caption job for a photo that has a current caption,
   * or a job that failed for good (use `force` or `retryFailed`). A job
   * row is reused for its (photo, kind), so the table holds one row per piece of work.
   */
  enqueue(photoId: number, kind: JobKind, opts: EnqueueOptions = {}): Job | undefined {
    if (!KINDS.has(kind)) throw new AppError('invalid_argument', `unknown job kind ${JSON.stringify(kind)}`);
    const maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new AppError('invalid_argument', `maxAttempts must be a positive integer, got ${maxAttempts}`);
    return immediate(this.db, () => {
      if (!stmt(this.db, 'SELECT 1 FROM photos WHERE id = ?').get(photoId)) {
        throw new AppError('invalid_argument', `no photo with id ${photoId} in the catalog`);
      }
      const latest = stmt<JobRow>(this.db, 'SELECT * FROM jobs WHERE photo_id = ? AND kind = ? ORDER BY id DESC LIMIT 1').get(photoId, kind);
      if (latest && (latest.state === 'pending' || latest.state === 'running')) return toJob(latest);
      if (!opts.force) {
        if (latest?.state === 'failed') return undefined;
        if (kind === 'caption' && stmt(this.db, 'SELECT 1 FROM captions WHERE photo_id = ? AND is_current = 1').get(photoId)) return undefined;
      }
      const now = this.now();
      const row = latest
        ? stmt<JobRow>(this.db, `UPDATE jobs SET state = 'pending', attempts = 0, max_attempts = ?, last_error_code = NULL, last_error = NULL,
            worker = NULL, created_at = ?, updated_at = ? WHERE id = ? RETURNING *`).get(maxAttempts, now, now, latest.id)
        : stmt<JobRow>(this.db, `INSERT INTO jobs (photo_id, kind, max_attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING *`)
            .get(photoId, kind, maxAttempts, now, now);
      return toJob(row!);
    });
  }

  /**
   * Atomically takes the pending job that waited longest (a retried job queues behind fresh ones)
   * and counts an attempt. Jobs whose photo has no present file (drive offline, file missing) are
   * left waiting rather than failed.
   */
  claimNext(workerId: string, opts: { kind?: JobKind } = {}): ClaimedJob | undefined {
    return immediate(this.db, () => {
      const row = stmt<JobRow>(
        this.db,
        `UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = @worker, updated_at = @now
         WHERE id = (SELECT j.id ${NEXT_PENDING} LIMIT 1)
         RETURNING *`,
      ).get({ worker: workerId, now: this.now(), kind: opts.kind ?? null });
      if (!row) return undefined;
      const file = stmt<{ path: string }>(this.db, `SELECT ${presentPath('?')} AS path`).get(row.photo_id);
      return { ...toJob(row), path: file!.path };
    });
  }

  /** The files of the next `limit` pending jobs in the order claimNext takes them (nothing claimed). */
  nextPaths(limit: number, opts: { kind?: JobKind } = {}): string[] {
    if (limit <= 0) return [];
    return stmt<{ path: string }>(this.db, `SELECT ${presentPath('j.photo_id')} AS path ${NEXT_PENDING} LIMIT @limit`)
      .all({ kind: opts.kind ?? null, limit })
      .map((r) => r.path);
  }

  /**
   * Runs `apply` (store the caption or tags) and marks the job done, in one transaction. Returns
   * false and applies nothing when the job is no longer running (already completed, failed, or
   * recovered and re-claimed); with `worker`, also when another worker holds it. If `apply` throws,
   * nothing is written, the job stays running and the error propagates: call `fail` next.
   */
  complete(jobId: number, apply: () => void = () => {}, opts: { worker?: string } = {}): boolean {
    return immediate(this.db, () => {
      if (!this.holds(jobId, opts.worker)) return false;
      apply();
      stmt(this.db, `UPDATE jobs SET state = 'done', last_error_code = NULL, last_error = NULL, updated_at = ? WHERE id = ?`).run(this.now(), jobId);
      return true;
    });
  }

  /**
   * Records a failed attempt: back to 'pending' while attempts remain, else 'failed'. `retry: false`
   * fails at once (an unreadable file will not become readable). Returns the new state, or
   * undefined when the job was not running (nothing changes).
   */
  fail(jobId: number, error: JobError, opts: { worker?: string; retry?: boolean } = {}): JobState | undefined {
    return immediate(this.db, () => {
      const row = this.holds(jobId, opts.worker);
      if (!row) return undefined;
      const next: JobState = opts.retry !== false && row.attempts < row.max_attempts ? 'pending' : 'failed';
      stmt(this.db, 'UPDATE jobs SET state = ?, last_error_code = ?, last_error = ?, updated_at = ? WHERE id = ?')
        .run(next, String(error.code), String(error.message), this.now(), jobId);
      return next;
    });
  }

  /** Gives a running job back without counting the attempt (cancelled, or a clean shutdown). */
  release(jobId: number, opts: { worker?: string } = {}): boolean {
    return immediate(this.db, () => {
      if (!this.holds(jobId, opts.worker)) return false;
      stmt(this.db, `UPDATE jobs SET state = 'pending', attempts = max(attempts - 1, 0), worker = NULL, updated_at = ? WHERE id = ?`).run(this.now(), jobId);
      return true;
    });
  }

  /**
   * At startup, before any worker runs: jobs left 'running' by a killed process go back to
   * 'pending'. One that has used up its attempts is failed instead, so a photo that crashes the
   * worker cannot crash every start. Only call it when no other process is working the queue.
   */
  recoverInterrupted(): number {
    return immediate(this.db, () =>
      stmt(this.db, `UPDATE jobs SET
          state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
          last_error_code = CASE WHEN attempts >= max_attempts THEN 'inference_failed' ELSE last_error_code END,
          last_error = CASE WHEN attempts >= max_attempts THEN 'interrupted on every attempt (the app was closed or crashed)' ELSE last_error END,
          worker = NULL, updated_at = ?
        WHERE state = 'running'`).run(this.now()).changes,
    );
  }

  /** Puts every failed job back in the queue with fresh attempts. */
  retryFailed(): number {
    return immediate(this.db, () =>
      stmt(this.db, `UPDATE jobs SET state = 'pending', attempts = 0, worker = NULL, updated_at = ?
        WHERE state = 'failed' AND NOT EXISTS (SELECT 1 FROM jobs a WHERE a.photo_id = jobs.photo_id AND a.kind = jobs.kind
          AND a.state IN ('pending', 'running'))`).run(this.now()).changes,
    );
  }

  job(id: number): Job | undefined {
    const row = stmt<JobRow>(this.db, 'SELECT * FROM jobs WHERE id = ?').get(id);
    return row && toJob(row);
  }

  counts(): JobCounts {
    const counts: JobCounts = { pending: 0, running: 0, done: 0, failed: 0 };
    for (const r of stmt<{ state: JobState; n: number }>(this.db, 'SELECT state, count(*) AS n FROM jobs GROUP BY state').all()) counts[r.state] = r.n;
    return counts;
  }

  pendingCount(): number {
    return stmt<{ n: number }>(this.db, `SELECT count(*) AS n FROM jobs WHERE state = 'pending'`).get()!.n;
  }

  failedJobs(): FailedJob[] {
    return stmt<JobRow & { path: string | null }>(
      this.db,
      `SELECT j.*, (SELECT f.path FROM photo_files f WHERE f.photo_id = j.photo_id ORDER BY f.state = 'present' DESC, f.path LIMIT 1) AS path
       FROM jobs j WHERE j.state = 'failed' ORDER BY j.updated_at DESC, j.id DESC`,
    ).all().map((r) => ({
      jobId: r.id, photoId: r.photo_id, kind: r.kind, path: r.path, attempts: r.attempts, updatedAt: r.updated_at,
      error: { code: r.last_error_code ?? 'inference_failed', message: r.last_error ?? '' },
    }));
  }

  /** The job's row if it is running (and held by `worker` when given). */
  private holds(jobId: number, worker: string | undefined): JobRow | undefined {
    const row = stmt<JobRow>(this.db, 'SELECT * FROM jobs WHERE id = ?').get(jobId);
    if (!row || row.state !== 'running') return undefined;
    if (worker !== undefined && row.worker !== worker) return undefined;
    return row;
  }
}
