// Runs a checkpoint conversion, or a pull from the Hugging Face Hub (download + conversion), in a
// child process (convert-worker-main.ts, or the Electron utility process entry) through the same
// Transport as the inference worker, so the app's main process stays free for other calls while the
// converter reads gigabytes synchronously, and never talks to the Hub itself. One child per job: it
// says `ready`, gets one request, streams progress, answers a result or `error` and exits.
// Cancelling a conversion sends `cancel` (and SIGTERM): the child's convertCheckpoint removes its
// temp folder and exits; one that does not exit in time is SIGKILLed, and its temp folder is then
// removed by the next conversion into the same folder (convert.ts removes partial folders of dead
// processes). Cancelling a pull sends `cancel`: the child aborts its download and leaves its work
// folder for the next pull to resume (a SIGKILL after the timeout loses at most the tensor in flight).
import { fileURLToPath } from 'node:url';
import { AppError, type ErrorCode } from '../shared/errors.ts';
import {
  type ConvertHostMessage, type ConvertSummary, type ConvertWeights, ConvertWorkerMessageSchema, type ParsedConvertWorkerMessage,
  type PullPlanSummary, type PullProgressMessage, type PullRequest, type PulledSummary,
} from './convert-protocol.ts';
import type { HostMessage } from './protocol.ts';
import { type TransportFactory, type WorkerExit, forkTransport } from './transport.ts';

export const CONVERT_WORKER_ENTRY = fileURLToPath(new URL('./convert-worker-main.ts', import.meta.url));

/** Node children running convert-worker-main.ts (the app passes its utility-process transport instead). */
export function forkConvertTransport(): TransportFactory {
  return forkTransport({ entry: CONVERT_WORKER_ENTRY });
}

export interface ConvertArgs {
  checkpointDir: string;
  outDir: string;
  weights: ConvertWeights;
  blockSize?: number;
}

export interface ConvertInChildOptions {
  onProgress?: (event: { stage: string; part?: string }) => void;
  /** Aborting stops the child; the promise then rejects with 'cancelled' and no model folder is left. */
  signal?: AbortSignal;
  /** How long the child may take to say `ready`. Default 30 s (tsx loads first in development). */
  startTimeoutMs?: number;
  /** How long a cancelled or finished child may take to exit before SIGKILL. Default 5 s. */
  killTimeoutMs?: number;
}

export interface ConvertOutcome {
  dir: string;
  manifest: ConvertSummary;
}

/** One request per child, so one fixed id. */
const REQUEST_ID = 'convert';

/** Converts in a fresh child; settles once the child has exited. */
export function convertInChild(factory: TransportFactory, args: ConvertArgs, opts: ConvertInChildOptions = {}): Promise<ConvertOutcome> {
  const { blockSize, ...rest } = args;
  return runInChild<ConvertOutcome>(factory, {
    request: { type: 'convert', id: REQUEST_ID, ...rest, ...(blockSize !== undefined ? { blockSize } : {}) },
    what: `the converter process for ${args.checkpointDir}`,
    named: args.checkpointDir,
    // convertCheckpoint's SIGTERM handler removes its temp folder; on Windows SIGTERM cannot be
    // caught (it would skip the cleanup), so there only when `cancel` could not be sent.
    sigtermOnCancel: process.platform !== 'win32',
    onMessage: (m) => {
      if (m.type === 'progress') opts.onProgress?.({ stage: m.stage, ...(m.part ? { part: m.part } : {}) });
      if (m.type === 'result') return { dir: m.dir, manifest: m.manifest };
      return undefined;
    },
  }, opts, 'the conversion was cancelled');
}

// ── pulls from the Hugging Face Hub ───────────────────────────────────────────────────────────

export interface PullArgs {
  /** A known model's alias or a Hub repo id. */
  ref: string;
  modelsDir: string;
  revision?: string;
  quant?: ConvertWeights;
  /** The Hub or a mirror (the app's setting; the child never reads HF_ENDPOINT on its own). */
  endpoint: string;
  /** For gated or private repos. */
  token?: string;
}

export interface PullInChildOptions extends Omit<ConvertInChildOptions, 'onProgress'> {
  onProgress?: (progress: PullProgressMessage) => void;
}

/**
 * Pulls a model in a fresh child (it converts while it downloads): every request to the Hub comes
 * from that child. Aborting the signal makes the child stop its download cleanly (its work folder
 * stays, so the next pull of the same model resumes) and the promise rejects with 'cancelled'.
 */
export function pullInChild(factory: TransportFactory, args: PullArgs, opts: PullInChildOptions = {}): Promise<PulledSummary> {
  return runInChild<PulledSummary>(factory, {
    request: { type: 'pull', id: REQUEST_ID, ...hubRequest(args) },
    what: `the download of ${args.ref}`,
    sigtermOnCancel: false,
    onMessage: (m) => {
      if (m.type === 'pull-progress') opts.onProgress?.(m.progress);
      return m.type === 'pulled' ? m.result : undefined;
    },
  }, opts, 'the download was cancelled; it resumes where it stopped next time');
}

/** What a pull of `args.ref` will cost (download, disk, RAM, free space), read from the Hub in a child. */
export function planPullInChild(factory: TransportFactory, args: PullArgs, opts: Omit<ConvertInChildOptions, 'onProgress'> = {}): Promise<PullPlanSummary> {
  return runInChild<PullPlanSummary>(factory, {
    request: { type: 'planPull', id: REQUEST_ID, ...hubRequest(args) },
    what: `the Hub lookup of ${args.ref}`,
    sigtermOnCancel: false,
    onMessage: (m) => (m.type === 'plan' ? m.plan : undefined),
  }, opts, 'the Hub lookup was cancelled');
}

function hubRequest(args: PullArgs): Omit<PullRequest, 'type' | 'id'> {
  return {
    ref: args.ref, modelsDir: args.modelsDir, endpoint: args.endpoint,
    ...(args.revision ? { revision: args.revision } : {}),
    ...(args.quant ? { quant: args.quant } : {}),
    ...(args.token ? { token: args.token } : {}),
  };
}

// ── one request in one child ──────────────────────────────────────────────────────────────────

interface ChildJob<T> {
  request: ConvertHostMessage;
  /** Names the job in errors ("the converter process for /ckpt did not start…"). */
  what: string;
  named?: string;
  /** Also SIGTERM the child on cancel (it handles the signal); otherwise only when `cancel` failed. */
  sigtermOnCancel: boolean;
  /** Sees every message for this request; returns the answer when the message is the result. */
  onMessage(m: ParsedConvertWorkerMessage): T | undefined;
}

/** Sends one request to a fresh child; settles once the child has exited. */
function runInChild<T>(factory: TransportFactory, job: ChildJob<T>, opts: Omit<ConvertInChildOptions, 'onProgress'>, cancelledMessage: string): Promise<T> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(new AppError('cancelled', cancelledMessage));
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const killTimeoutMs = opts.killTimeoutMs ?? 5_000;
  const named = job.named ? { file: job.named } : undefined;
  return new Promise<T>((resolve, reject) => {
    const t = factory();
    // Transport is typed for the inference protocol; the channel carries any plain object.
    const post = (m: ConvertHostMessage): boolean => t.send(m as unknown as HostMessage);
    let answer: { ok: true; value: T } | { ok: false; error: AppError } | undefined;
    let ready = false;
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killLater = (): void => { killTimer ??= setTimeout(() => t.kill('SIGKILL'), killTimeoutMs); };
    const startTimer = setTimeout(() => {
      answer ??= { ok: false, error: new AppError('inference_failed', `${job.what} did not start within ${startTimeoutMs} ms`, named) };
      t.kill('SIGKILL');
    }, startTimeoutMs);

    const onAbort = (): void => {
      if (cancelled || answer) return;
      cancelled = true;
      if (!ready) return t.kill('SIGKILL'); // it has not been asked to write anything yet
      if (!post({ type: 'cancel', id: REQUEST_ID }) || job.sigtermOnCancel) t.kill('SIGTERM');
      killLater();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    t.onMessage((raw) => {
      const parsed = ConvertWorkerMessageSchema.safeParse(raw);
      if (!parsed.success) return; // a child speaking garbage is judged by its answer or its exit
      const m = parsed.data;
      if (m.type === 'ready') {
        if (ready) return;
        ready = true;
        clearTimeout(startTimer);
        post(job.request);
        return;
      }
      if (m.type === 'error') {
        answer ??= { ok: false, error: new AppError(m.error.code as ErrorCode, m.error.message, { file: m.error.file }) };
        return killLater();
      }
      if (m.id !== REQUEST_ID) return;
      if (cancelled && m.type !== 'result' && m.type !== 'pulled' && m.type !== 'plan') return; // no progress after a cancel
      let value: T | undefined;
      try {
        value = job.onMessage(m);
      } catch (err) {
        // A listener's bug surfaces without leaving the child unwatched.
        queueMicrotask(() => { throw err; });
      }
      if (value !== undefined) {
        answer ??= { ok: true, value };
        killLater();
      }
    });

    t.onExit((exit) => {
      clearTimeout(startTimer);
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      // A cancel that lost the race with the result: the job is complete, say so.
      if (answer?.ok) resolve(answer.value);
      else if (cancelled) reject(new AppError('cancelled', cancelledMessage));
      else if (answer) reject(answer.error);
      else reject(new AppError('inference_failed', `${job.what} ${describeExit(exit)} before finishing${job.request.type === 'convert' ? '; no model folder was written' : ''}`, named));
    });
  });
}

function describeExit(exit: WorkerExit): string {
  if (exit.signal) return `was killed (signal ${exit.signal})`;
  return exit.code === null ? 'could not be started' : `exited (code ${exit.code})`;
}
