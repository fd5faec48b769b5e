// The inference worker as a process: start it through a pluggable Transport and wait for `ready`,
// detect its exit, restart it as RestartPolicy decides (then let the owner reload its models), and
// shut it down (asked, then killed). Requests go out through its WorkerChannel once a worker is
// ready, waiting through a restart in progress. InferenceHost puts the typed requests on top.
import { AppError, type ErrorData, throwIfAborted } from '../shared/errors.ts';
import { type LogLevel, WorkerMessageSchema, describeIssues } from './protocol.ts';
import { RestartPolicy, type RestartPolicyOptions } from './restart-policy.ts';
import { type Transport, type TransportFactory, type WorkerExit, forkTransport } from './transport.ts';
import { type CallOptions, type Request, WorkerChannel } from './worker-channel.ts';

export type ExitReason = 'crash' | 'killed' | 'shutdown';

export interface WorkerProcessEvents {
  exit: WorkerExit & { reason: ExitReason; pid: number | undefined };
  restart: { attempt: number };
  log: { level: LogLevel; message: string };
  /** A worker error no pending request claims (e.g. the answer to a malformed message). */
  unmatched: { id: string | null; error: ErrorData };
}

export interface WorkerProcessOptions {
  transport?: TransportFactory;
  /** How long start() waits for `ready`. Default 30 s (tsx and ONNX Runtime load first). */
  startTimeoutMs?: number;
  /** shutdown() waits this long for a clean exit before SIGKILL. Default 5 s. */
  shutdownTimeoutMs?: number;
  restart?: RestartPolicyOptions;
}

/** Runs after a restarted worker said `ready`, before requests flow again (the owner reloads models). */
export type RestartedHook = (send: (request: Request) => Promise<unknown>, isCurrent: () => boolean) => Promise<void>;

type Listener<T> = (event: T) => void;

export class WorkerProcess {
  private readonly factory: TransportFactory;
  private readonly opts: { startTimeoutMs: number; shutdownTimeoutMs: number };
  private readonly restarts: RestartPolicy;
  private readonly channel = new WorkerChannel({
    log: (level, message) => this.emit('log', { level, message }),
    unmatched: (id, error) => this.emit('unmatched', { id, error }),
  });
  // Listeners are stored type-erased; on() and emit() keep each event's payload type.
  private readonly listeners = new Map<keyof WorkerProcessEvents, Set<Listener<unknown>>>();
  private transport: Transport | undefined;
  /** Settles when the current worker can take requests (after start, or after a restart and reload). */
  private ready: Promise<void> | undefined;
  private restartTimer: { timer: NodeJS.Timeout; reject: (err: AppError) => void } | undefined;
  private stopping = false;
  private killedByHost = false;
  /** The current worker said `ready` (before that it may not be listening yet). */
  private workerReady = false;
  /** The first start succeeded: from then on crashes are recovered from. */
  private started = false;

  constructor(options: WorkerProcessOptions, private readonly onRestarted: RestartedHook) {
    this.factory = options.transport ?? forkTransport();
    this.opts = { startTimeoutMs: options.startTimeoutMs ?? 30_000, shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5_000 };
    this.restarts = new RestartPolicy(options.restart);
  }

  /** The worker's process id while one is running. */
  get pid(): number | undefined {
    return this.transport?.pid;
  }

  on<K extends keyof WorkerProcessEvents>(event: K, listener: Listener<WorkerProcessEvents[K]>): () => void {
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
      this.restarts.reset();
      // A failed first start is not retried in the background: the caller sees why and may call again.
      const ready: Promise<void> = this.spawn().then(
        () => { this.started = true; },
        (err) => { if (this.ready === ready) this.ready = undefined; throw err; },
      );
      this.ready = ready;
    }
    return this.ready;
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

  /** A line for the owner's log (the 'log' event). */
  log(level: LogLevel, message: string): void {
    this.emit('log', { level, message });
  }

  private emit<K extends keyof WorkerProcessEvents>(event: K, payload: WorkerProcessEvents[K]): void {
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
        } else this.channel.dispatch(parsed.data);
      });
      t.onExit((exit) => {
        clearTimeout(timer);
        if (!started) reject(new AppError('inference_failed', `the inference worker exited while starting (${describeExit(exit)})`));
        this.onExit(t, exit);
      });
    });
  }

  private onExit(t: Transport, exit: WorkerExit): void {
    if (t !== this.transport) return;
    this.transport = undefined;
    const reason: ExitReason = this.killedByHost ? 'killed' : this.stopping ? 'shutdown' : 'crash';
    const err = this.stopping
      ? new AppError('cancelled', 'the inference worker was shut down')
      : new AppError('inference_failed', `the inference worker ${reason === 'crash' ? 'crashed' : 'was killed'} (${describeExit(exit)}) before answering`);
    this.channel.rejectAll(err);
    this.emit('log', { level: reason === 'shutdown' ? 'info' : 'error', message: `[inference-worker ${t.pid ?? '?'}] exited: ${reason} (${describeExit(exit)})` });
    this.emit('exit', { ...exit, reason, pid: t.pid });
    // Also after a start timeout during a restart ('killed'): that is one more bounded attempt.
    if (!this.stopping && this.started) this.scheduleRestart();
  }

  /** Restarts after a crash when the policy allows, after its backoff. */
  private scheduleRestart(): void {
    const decision = this.restarts.onCrash();
    if (!decision.restart) {
      const err = new AppError('inference_failed', `the inference worker crashed ${decision.crashes} times within ${Math.round(decision.windowMs / 1000)} s; it is not restarted again`);
      this.emit('log', { level: 'error', message: err.message });
      this.ready = Promise.reject(err);
      this.ready.catch(() => {});
      return;
    }
    const { attempt, delayMs } = decision;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.restartTimer = undefined;
        this.emit('restart', { attempt });
        this.spawn().then(() => this.reloadAfterRestart()).then(resolve, reject);
      }, delayMs);
      this.restartTimer = { timer, reject };
    });
    ready.catch(() => {}); // callers observe it through whenReady()
    this.ready = ready;
  }

  private async reloadAfterRestart(): Promise<void> {
    const t = this.transport;
    if (!t) return;
    await this.onRestarted((request) => this.send(t, request, {}), () => this.transport === t);
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

  /** Sends `request` once a worker is ready (waiting through a restart in progress). */
  async call<T>(request: Request, call: CallOptions): Promise<T> {
    throwIfAborted(call.signal);
    const t = await this.readyTransport();
    throwIfAborted(call.signal);
    return this.send<T>(t, request, call);
  }

  private send<T>(t: Transport, request: Request, call: CallOptions): Promise<T> {
    return this.channel.request<T>(t, request, call, () => this.transport === t);
  }
}

function describeExit(exit: WorkerExit): string {
  return exit.signal ? `signal ${exit.signal}` : exit.code === null ? 'it could not be started' : `exit code ${exit.code}`;
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
