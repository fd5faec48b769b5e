// Runs a checkpoint conversion in a child process (convert-worker-main.ts, or the Electron utility
// process entry) through the same Transport as the inference worker, so the app's main process stays
// free for other calls while the converter reads gigabytes synchronously. One child per conversion:
// it says `ready`, gets one `convert`, streams `progress`, answers `result` or `error` and exits.
// Cancelling sends `cancel` (and SIGTERM): the child's convertCheckpoint removes its temp folder and
// exits; one that does not exit in time is SIGKILLed, and its temp folder is then removed by the
// next conversion into the same folder (convert.ts removes partial folders of dead processes).
import { fileURLToPath } from 'node:url';
import { AppError, type ErrorCode } from '../shared/errors.ts';
import { type ConvertHostMessage, type ConvertSummary, type ConvertWeights, ConvertWorkerMessageSchema } from './convert-protocol.ts';
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
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(cancelledError());
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const killTimeoutMs = opts.killTimeoutMs ?? 5_000;
  const named = { file: args.checkpointDir };
  return new Promise<ConvertOutcome>((resolve, reject) => {
    const t = factory();
    // Transport is typed for the inference protocol; the channel carries any plain object.
    const post = (m: ConvertHostMessage): boolean => t.send(m as unknown as HostMessage);
    let answer: { ok: true; value: ConvertOutcome } | { ok: false; error: AppError } | undefined;
    let ready = false;
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killLater = (): void => { killTimer ??= setTimeout(() => t.kill('SIGKILL'), killTimeoutMs); };
    const startTimer = setTimeout(() => {
      answer ??= { ok: false, error: new AppError('inference_failed', `the converter process for ${args.checkpointDir} did not start within ${startTimeoutMs} ms`, named) };
      t.kill('SIGKILL');
    }, startTimeoutMs);

    const onAbort = (): void => {
      if (cancelled || answer) return;
      cancelled = true;
      if (!ready) return t.kill('SIGKILL'); // it has not been asked to write anything yet
      // `cancel` works on every platform; SIGTERM also reaches a child whose loop is busy, but on
      // Windows it cannot be caught (it would skip the cleanup), so there only when `cancel` failed.
      if (!post({ type: 'cancel', id: REQUEST_ID }) || process.platform !== 'win32') t.kill('SIGTERM');
      killLater();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    t.onMessage((raw) => {
      const parsed = ConvertWorkerMessageSchema.safeParse(raw);
      if (!parsed.success) return; // a child speaking garbage is judged by its answer or its exit
      const m = parsed.data;
      switch (m.type) {
        case 'ready': {
          if (ready) return;
          ready = true;
          clearTimeout(startTimer);
          const { blockSize, ...rest } = args;
          post({ type: 'convert', id: REQUEST_ID, ...rest, ...(blockSize !== undefined ? { blockSize } : {}) });
          return;
        }
        case 'progress':
          if (m.id !== REQUEST_ID || cancelled) return;
          try {
            opts.onProgress?.({ stage: m.stage, ...(m.part ? { part: m.part } : {}) });
          } catch (err) {
            // A listener's bug surfaces without leaving the child unwatched.
            queueMicrotask(() => { throw err; });
          }
          return;
        case 'result':
          if (m.id !== REQUEST_ID) return;
          answer ??= { ok: true, value: { dir: m.dir, manifest: m.manifest } };
          return killLater();
        case 'error':
          answer ??= { ok: false, error: new AppError(m.error.code as ErrorCode, m.error.message, { file: m.error.file }) };
          return killLater();
      }
    });

    t.onExit((exit) => {
      clearTimeout(startTimer);
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      // A cancel that lost the race with the result: the model folder is complete, say so.
      if (answer?.ok) resolve(answer.value);
      else if (cancelled) reject(cancelledError());
      else if (answer) reject(answer.error);
      else reject(new AppError('inference_failed', `the converter process for ${args.checkpointDir} ${describeExit(exit)} before finishing; no model folder was written`, named));
    });
  });
}

function cancelledError(): AppError {
  return new AppError('cancelled', 'the conversion was cancelled');
}

function describeExit(exit: WorkerExit): string {
  if (exit.signal) return `was killed (signal ${exit.signal})`;
  return exit.code === null ? 'could not be started' : `exited (code ${exit.code})`;
}
