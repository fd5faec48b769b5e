// InferenceHost: the parent's handle on the inference worker (modelled on VS Code's utility-process
// host). It starts the worker through a pluggable Transport, turns requests into promises, streams
// tokens, maps AbortSignal to `cancel`, and survives crashes: in-flight requests fail with
// 'inference_failed', the worker is restarted (bounded, with backoff) and the last models reloaded
// (captioning and retrieval). Retrieval results (float vectors as base64) are checked for shape.
import type { z } from 'zod';
import { AppError, type ErrorCode, type ErrorData } from '../shared/errors.ts';
import type { RetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import {
  AnalyzeResultSchema, type CaptionOptions, type ChatTurnData, type GeneratedTextData, type HostMessage,
  type LogLevel, type ModelInfo, type ParsedWorkerMessage, ProbabilitiesResultSchema, type RetrievalModelInfo,
  RetrievalModelInfoSchema, type SessionSettingsData, VectorsResultSchema, type WireGenerationOptions, WorkerMessageSchema,
  describeIssues,
} from './protocol.ts';
import { HostRetrievalEncoder } from './host-retrieval-encoder.ts';
import { decodeMatrix, splitRows, unexpectedAnswer } from './matrix-codec.ts';
import { type Transport, type TransportFactory, type WorkerExit, forkTransport } from './transport.ts';

export type ExitReason = 'crash' | 'killed' | 'shutdown';

export interface InferenceHostEvents {
  exit: WorkerExit & { reason: ExitReason; pid: number | undefined };
  restart: { attempt: number };
  log: { level: LogLevel; message: string };
  /** A worker error no pending request claims (e.g. the answer to a malformed message). */
  unmatched: { id: string | null; error: ErrorData };
}

export interface CallOptions {
  /** Each generated token with the text decoded so far. */
  onToken?: (token: { tokenId: number; text: string }) => void;
  /** Aborting sends `cancel`; the promise then rejects with code 'cancelled'. */
  signal?: AbortSignal;
}

export interface AskOptions extends WireGenerationOptions {
  /** Earlier turns of a chat about this photo; non-empty uses the chat prompt. */
  history?: ChatTurnData[];
}

export interface InferenceHostOptions {
  transport?: TransportFactory;
  /** How long start() waits for `ready`. Default 30 s (tsx and ONNX Runtime load first). */
  startTimeoutMs?: number;
  /** shutdown() waits this long for a clean exit before SIGKILL. Default 5 s. */
  shutdownTimeoutMs?: number;
  /** At most this many automatic restarts per restartWindowMs. Default 5 per minute. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** Delay before restart n is backoffMs · 2^(n−1) (n counted within the window). Default 200 ms. */
  backoffMs?: number;
}

export interface AnalyzeResult {
  caption?: GeneratedTextData;
  /** L2-normalized query vectors [queries × embedDim], as embedImage gives them. */
  features?: Float32Array;
  /** Vision encoder runs the worker needed (1 when the two models share vision weights, 0 when cached). */
  visionPasses: number;
}

/** Texts per embedTexts message (the protocol's bound); longer lists are sent in several. */
const TEXTS_PER_MESSAGE = 2048;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: AppError) => void;
  onToken?: CallOptions['onToken'];
}

type Listener<T> = (event: T) => void;

export class InferenceHost {
  private readonly factory: TransportFactory;
  private readonly opts: Required<Omit<InferenceHostOptions, 'transport'>>;
  // Listeners are stored type-erased; on() and emit() keep each event's payload type.
  private readonly listeners = new Map<keyof InferenceHostEvents, Set<Listener<unknown>>>();
  private transport: Transport | undefined;
  /** Settles when the current worker can take requests (after start, or after a restart and reload). */
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private lastLoad: { modelDir: string; settings: SessionSettingsData } | undefined;
  private lastRetrievalLoad: { modelDir: string; settings: SessionSettingsData } | undefined;
  /** Shape of the loaded retrieval model's vectors, to check what the worker returns. */
  private retrievalShape: { queries: number; embedDim: number } | undefined;
  private restartTimes: number[] = [];
  private restartTimer: { timer: NodeJS.Timeout; reject: (err: AppError) => void } | undefined;
  private stopping = false;
  private killedByHost = false;
  /** The current worker said `ready` (before that it may not be listening yet). */
  private workerReady = false;
  /** The first start succeeded: from then on crashes are recovered from. */
  private started = false;

  constructor(options: InferenceHostOptions = {}) {
    this.factory = options.transport ?? forkTransport();
    this.opts = {
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5_000,
      maxRestarts: options.maxRestarts ?? 5,
      restartWindowMs: options.restartWindowMs ?? 60_000,
      backoffMs: options.backoffMs ?? 200,
    };
  }

  /** The worker's process id while one is running. */
  get pid(): number | undefined {
    return this.transport?.pid;
  }

  on<K extends keyof InferenceHostEvents>(event: K, listener: Listener<InferenceHostEvents[K]>): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    const erased = listener as Listener<unknown>;
    set.add(erased);
    return () => set.delete(erased);
  }

  async start(): Promise<void> {
    if (!this.ready) {
      this.stopping = false;
      this.started = false;
      this.restartTimes = [];
      // A failed first start is not retried in the background: the caller sees why and may call again.
      const ready: Promise<void> = this.spawn().then(
        () => { this.started = true; },
        (err) => { if (this.ready === ready) this.ready = undefined; throw err; },
      );
      this.ready = ready;
    }
    return this.ready;
  }

  /** Loads (or replaces) the model; it is reloaded automatically after a worker restart. */
  async load(modelDir: string, settings: SessionSettingsData = {}): Promise<ModelInfo> {
    const info = await this.call<ModelInfo>({ type: 'load', modelDir, settings }, {});
    this.lastLoad = { modelDir, settings };
    return info;
  }

  async caption(imagePath: string, options: CaptionOptions = {}, call: CallOptions = {}): Promise<GeneratedTextData> {
    return this.call({ type: 'caption', imagePath, options }, call);
  }

  async ask(imagePath: string, question: string, options: AskOptions = {}, call: CallOptions = {}): Promise<GeneratedTextData> {
    const { history, ...gen } = options;
    return this.call({ type: 'ask', imagePath, question, ...(history ? { history } : {}), options: gen }, call);
  }

  /** Loads (or replaces) the retrieval model beside the captioning model; reloaded after a restart too. */
  async loadRetrieval(modelDir: string, settings: SessionSettingsData = {}): Promise<RetrievalModelInfo> {
    const info = await this.callParsed({ type: 'loadRetrieval', modelDir, settings }, {}, RetrievalModelInfoSchema);
    this.lastRetrievalLoad = { modelDir, settings };
    this.retrievalShape = { queries: info.queries, embedDim: info.embedDim };
    return info;
  }

  /** One L2-normalized [embedDim] vector per text; an empty text fails with 'invalid_argument'. */
  async embedTexts(texts: readonly string[], call: CallOptions = {}): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i === 0 || i < texts.length; i += TEXTS_PER_MESSAGE) {
      const chunk = texts.slice(i, i + TEXTS_PER_MESSAGE);
      const r = await this.callParsed({ type: 'embedTexts', texts: chunk }, call, VectorsResultSchema);
      out.push(...splitRows(decodeMatrix(r.vectors, 'text vectors', chunk.length, this.retrievalShape?.embedDim), chunk.length));
    }
    return out;
  }

  /** The photo's L2-normalized query vectors [queries × embedDim]. */
  async embedImage(imagePath: string, call: CallOptions = {}): Promise<Float32Array> {
    const r = await this.callParsed({ type: 'embedImage', imagePath }, call, VectorsResultSchema);
    return decodeMatrix(r.vectors, 'image features', this.retrievalShape?.queries, this.retrievalShape?.embedDim);
  }

  /** ITM P(match) of the photo with each text. */
  async itm(imagePath: string, texts: readonly string[], call: CallOptions = {}): Promise<number[]> {
    const r = await this.callParsed({ type: 'itm', imagePath, texts: [...texts] }, call, ProbabilitiesResultSchema);
    if (r.probabilities.length !== texts.length) throw unexpectedAnswer(`${r.probabilities.length} probabilities for ${texts.length} texts`);
    return r.probabilities;
  }

  /**
   * A caption (tokens stream through onToken) and/or the retrieval features of one photo, decoded
   * once and, when the two models share vision weights, through one vision pass.
   */
  async analyze(imagePath: string, opts: { caption?: CaptionOptions; embed?: boolean }, call: CallOptions = {}): Promise<AnalyzeResult> {
    const request = { type: 'analyze' as const, imagePath, embed: opts.embed ?? false, ...(opts.caption ? { caption: opts.caption } : {}) };
    const r = await this.callParsed(request, call, AnalyzeResultSchema);
    if (request.embed !== !!r.features || !!opts.caption !== !!r.caption) throw unexpectedAnswer('the analysis lacks a part that was asked for');
    const shape = this.retrievalShape;
    return {
      ...(r.caption ? { caption: r.caption } : {}),
      ...(r.features ? { features: decodeMatrix(r.features, 'image features', shape?.queries, shape?.embedDim) } : {}),
      visionPasses: r.visionPasses,
    };
  }

  /** The RetrievalEncoder interface over this host's worker (search and tags use it like the in-process one). */
  retrievalEncoder(info: RetrievalModelInfo): RetrievalEncoder {
    return new HostRetrievalEncoder(this, info);
  }

  /** Asks the worker to finish (it cancels its work and releases the model), then kills it if it does not. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer.timer);
      this.restartTimer.reject(new AppError('cancelled', 'the inference host is shutting down'));
      this.restartTimer = undefined;
    }
    this.ready?.catch(() => {});
    this.ready = undefined;
    const t = this.transport;
    if (!t) return;
    const gone = new Promise<void>((resolve) => t.onExit(() => resolve()));
    // A worker that has not said `ready` may not be listening yet, and has nothing to save: kill it.
    if (!this.workerReady || !t.send({ type: 'shutdown' }) || !(await within(gone, this.opts.shutdownTimeoutMs))) {
      this.kill(t);
      await within(gone, 2_000);
    }
  }

  private kill(t: Transport): void {
    this.killedByHost = true;
    t.kill('SIGKILL');
  }

  private emit<K extends keyof InferenceHostEvents>(event: K, payload: InferenceHostEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        l(payload);
      } catch (err) {
        // Rethrown later: a listener's bug surfaces without stopping crash recovery halfway.
        queueMicrotask(() => { throw err; });
      }
    }
  }

  /** Starts one worker process and resolves on its `ready`. */
  private spawn(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const t = this.factory();
      this.transport = t;
      this.killedByHost = false;
      this.workerReady = false;
      let started = false;
      const timer = setTimeout(() => {
        reject(new AppError('inference_failed', `the inference worker did not start within ${this.opts.startTimeoutMs} ms`));
        this.kill(t);
      }, this.opts.startTimeoutMs);
      t.onMessage((raw) => {
        if (t !== this.transport) return;
        const parsed = WorkerMessageSchema.safeParse(raw);
        if (!parsed.success) return this.emit('log', { level: 'warn', message: `inference host: ignored an invalid worker message (${describeIssues(parsed.error)})` });
        if (parsed.data.type === 'ready' && !started) {
          started = true;
          this.workerReady = true;
          clearTimeout(timer);
          resolve();
        } else this.dispatch(parsed.data);
      });
      t.onExit((exit) => {
        clearTimeout(timer);
        if (!started) reject(new AppError('inference_failed', `the inference worker exited while starting (${describeExit(exit)})`));
        this.onExit(t, exit);
      });
    });
  }

  private dispatch(msg: ParsedWorkerMessage): void {
    switch (msg.type) {
      case 'log': return this.emit('log', { level: msg.level, message: msg.message });
      case 'token': return this.pending.get(msg.id)?.onToken?.({ tokenId: msg.tokenId, text: msg.text });

      case 'result': return this.pending.get(msg.id)?.resolve(msg.value);
      case 'error': {
        const p = msg.id === null ? undefined : this.pending.get(msg.id);
        const error = msg.error as ErrorData;
        if (!p) return this.emit('unmatched', { id: msg.id, error });
        return p.reject(new AppError(error.code as ErrorCode, error.message, { file: error.file }));
      }
    }
  }

  private onExit(t: Transport, exit: WorkerExit): void {
    if (t !== this.transport) return;
    this.transport = undefined;
    const reason: ExitReason = this.killedByHost ? 'killed' : this.stopping ? 'shutdown' : 'crash';
    const err = this.stopping
      ? new AppError('cancelled', 'the inference worker was shut down')
      : new AppError('inference_failed', `the inference worker ${reason === 'crash' ? 'crashed' : 'was killed'} (${describeExit(exit)}) before answering`);
    for (const p of [...this.pending.values()]) p.reject(err);
    this.emit('log', { level: reason === 'shutdown' ? 'info' : 'error', message: `[inference-worker ${t.pid ?? '?'}] exited: ${reason} (${describeExit(exit)})` });
    this.emit('exit', { ...exit, reason, pid: t.pid });
    // Also after a start timeout during a restart ('killed'): that is one more bounded attempt.
    if (!this.stopping && this.started) this.scheduleRestart();
  }

  /** Restarts after a crash, at most maxRestarts per window, each wait twice the previous. */
  private scheduleRestart(): void {
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((at) => now - at < this.opts.restartWindowMs);
    if (this.restartTimes.length >= this.opts.maxRestarts) {
      const err = new AppError('inference_failed', `the inference worker crashed ${this.restartTimes.length + 1} times within ${Math.round(this.opts.restartWindowMs / 1000)} s; it is not restarted again`);
      this.emit('log', { level: 'error', message: err.message });
      this.ready = Promise.reject(err);
      this.ready.catch(() => {});
      return;
    }
    this.restartTimes.push(now);
    const attempt = this.restartTimes.length;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.restartTimer = undefined;
        this.emit('restart', { attempt });
        this.spawn().then(() => this.reload()).then(resolve, reject);
      }, this.opts.backoffMs * 2 ** (attempt - 1));
      this.restartTimer = { timer, reject };
    });
    ready.catch(() => {}); // callers observe it through whenReady()
    this.ready = ready;
  }

  private async reload(): Promise<void> {
    const t = this.transport;
    if (!t) return;
    const loads = [
      this.lastLoad && { type: 'load' as const, ...this.lastLoad },
      this.lastRetrievalLoad && { type: 'loadRetrieval' as const, ...this.lastRetrievalLoad },
    ];
    for (const load of loads) {
      if (!load) continue;
      try {
        await this.send(t, load, {});
      } catch (err) {
        // A worker without a model still answers: the next request gets a clear model_missing error.
        if (this.transport === t) this.emit('log', { level: 'error', message: `reloading ${load.modelDir} after a restart failed: ${(err as Error).message}` });
        else throw err;
      }
    }
  }

  /** A request whose result must match `schema` (the worker's answer is data, checked like any). */
  private async callParsed<S extends z.ZodType>(request: DistributiveOmit<HostMessage, 'id'>, call: CallOptions, schema: S): Promise<z.infer<S>> {
    const value = await this.call<unknown>(request, call);
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw unexpectedAnswer(`${request.type} result: ${describeIssues(parsed.error)}`);
    return parsed.data;
  }

  /** Settles when the current worker takes requests (after start, or after a restart and reload: await it
   *  after an 'exit' event); rejects when the host gave up restarting, is shut down or was never started. */
  async whenReady(): Promise<void> {
    await this.readyTransport();
  }

  /** The transport of a worker that is ready, waiting through restarts in progress. */
  private async readyTransport(): Promise<Transport> {
    for (;;) {
      const ready = this.ready;
      if (!ready) throw new AppError('inference_failed', this.stopping ? 'the inference host was shut down' : 'the inference host is not started; call start() first');
      try {
        await ready;
      } catch (err) {
        if (this.ready !== ready) continue; // it crashed again while restarting; a newer restart is under way
        throw err;
      }
      if (this.ready !== ready) continue;
      if (this.transport) return this.transport;
      // Crashed after ready but before the restart was scheduled cannot happen (onExit is synchronous).
      throw new AppError('inference_failed', 'the inference worker is not running');
    }
  }

  private async call<T>(request: DistributiveOmit<HostMessage, 'id'>, call: CallOptions): Promise<T> {
    throwIfCancelled(call.signal);
    const t = await this.readyTransport();
    throwIfCancelled(call.signal);
    return this.send<T>(t, request, call);
  }

  private send<T>(t: Transport, request: DistributiveOmit<HostMessage, 'id'>, call: CallOptions): Promise<T> {
    const id = `r${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => void (this.transport === t && t.send({ type: 'cancel', id }));
      const settle = (): void => {
        this.pending.delete(id);
        call.signal?.removeEventListener('abort', onAbort);
      };
      // An onToken that throws fails the request with its error (as in-process generate does) and
      // stops the worker's generation; it must not become an uncaught exception in this process.
      let listenerError: { err: unknown } | undefined;
      const onToken = call.onToken;
      this.pending.set(id, {
        resolve: (v) => { settle(); if (listenerError) reject(listenerError.err); else resolve(v as T); },
        reject: (e) => { settle(); reject(listenerError ? listenerError.err : e); },
        onToken: onToken && ((token) => {
          if (listenerError) return;
          try {
            onToken(token);
          } catch (err) {
            listenerError = { err };
            onAbort();
          }
        }),
      });
      call.signal?.addEventListener('abort', onAbort, { once: true });
      // A closed channel means the process is exiting: onExit rejects this request with the reason.
      t.send({ ...request, id } as HostMessage);
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function describeExit(exit: WorkerExit): string {
  return exit.signal ? `signal ${exit.signal}` : exit.code === null ? 'it could not be started' : `exit code ${exit.code}`;
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AppError('cancelled', 'the request was cancelled');
}

/** True when `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
