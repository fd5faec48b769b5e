// The inference worker's request handler, independent of the transport: worker-main.ts (a Node child
// process) and, later, the Electron utility-process entry feed it raw messages and give it a `post`
// function. It validates every message, runs generation requests one at a time (one model, one set
// of ONNX Runtime sessions), and handles `cancel` at once through an AbortController per request.
// Every request ends in exactly one `result` or `error`; nothing a message contains can crash it.
import { stat } from 'node:fs/promises';
import { AppError, toErrorData } from '../shared/errors.ts';
import { Blip2Model, type GeneratedText, type ImageEncoding } from '../runtime/blip2/model.ts';
import type { ExecutionProvider } from '../runtime/session.ts';
import {
  type GeneratedTextData, HostMessageSchema, type LogLevel, type ModelInfo, type ParsedHostMessage,
  WIRE_EXECUTION_PROVIDERS, type WorkerMessage, describeIssues, salvageId,
} from './protocol.ts';

// The wire list of providers must stay the runtime's list: a compile error here if they drift.
type WireEP = (typeof WIRE_EXECUTION_PROVIDERS)[number];
const sameProviders: [WireEP, ExecutionProvider] extends [ExecutionProvider, WireEP] ? true : never = true;
void sameProviders;

export interface WorkerServiceOptions {
  post: (message: WorkerMessage) => void;
  pid: number;
  /** Messages below this level are not posted. Prompts and generated text are only logged at debug. */
  logLevel?: LogLevel;
}

type Job = Exclude<ParsedHostMessage, { type: 'cancel' } | { type: 'shutdown' }>;
interface Queued { job: Job; controller: AbortController }

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** Encodings kept for follow-up turns of a chat on the same photo (each holds the vision output). */
const ENCODING_CACHE_SIZE = 4;

export class WorkerService {
  private model: Blip2Model | null = null;
  private readonly queue: Queued[] = [];
  private running: Queued | null = null;
  private idle: Promise<void> = Promise.resolve();
  private closing = false;
  /** Insertion-ordered map used as an LRU: key = path + mtime + size, so an edited photo is re-encoded. */
  private readonly encodings = new Map<string, ImageEncoding>();

  constructor(private readonly options: WorkerServiceOptions) {}

  /** Posts `ready`; call once the transport is listening. */
  announce(): void {
    this.options.post({ type: 'ready', pid: this.options.pid });
    this.log('info', 'worker ready');
  }

  /** Handles one raw incoming message. Never throws; `shutdown` resolves once the worker may exit. */
  async handle(raw: unknown): Promise<'shutdown' | void> {
    const parsed = HostMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const id = salvageId(raw);
      this.log('warn', `rejected an invalid message (${describeIssues(parsed.error)})`);
      this.post({ type: 'error', id, error: { code: 'invalid_argument', message: `invalid message: ${describeIssues(parsed.error)}` } });
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'cancel': return this.cancel(msg.id);
      case 'shutdown': await this.close(); return 'shutdown';
      default: return this.enqueue(msg);
    }
  }

  /** Cancels everything, waits for the running request to answer, releases the model. */
  async close(): Promise<void> {
    this.closing = true;
    for (const q of this.queue.splice(0)) this.fail(q.job.id, new AppError('cancelled', 'the inference worker is shutting down'));
    this.running?.controller.abort();
    await this.idle;
    this.encodings.clear();
    await this.model?.dispose().catch((err) => this.log('warn', `releasing the model failed: ${(err as Error).message}`));
    this.model = null;
    this.log('info', 'worker shut down');
  }

  private enqueue(job: Job): void {
    if (this.closing) return this.fail(job.id, new AppError('cancelled', 'the inference worker is shutting down'));
    if (this.running?.job.id === job.id || this.queue.some((q) => q.job.id === job.id)) {
      // Answering with this id would settle the request already using it; say so in the log instead.
      this.log('warn', `ignored a request reusing the in-flight id ${job.id}`);
      return;
    }
    this.queue.push({ job, controller: new AbortController() });
    if (!this.running) this.idle = this.drain();
  }

  private cancel(id: string): void {
    if (this.running?.job.id === id) return this.running.controller.abort();
    const i = this.queue.findIndex((q) => q.job.id === id);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.fail(id, new AppError('cancelled', 'the request was cancelled before it started'));
    }
    // Otherwise it already finished: its one answer was sent, so there is nothing to do.
  }

  private async drain(): Promise<void> {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      this.running = next;
      const started = performance.now();
      try {
        const value = await this.run(next.job, next.controller.signal);
        this.post({ type: 'result', id: next.job.id, value });
        this.log('info', `${next.job.type} ${next.job.id} done in ${Math.round(performance.now() - started)} ms`);
      } catch (err) {
        this.fail(next.job.id, err);
      } finally {
        this.running = null;
      }
    }
  }

  private async run(job: Job, signal: AbortSignal): Promise<GeneratedTextData | ModelInfo> {
    throwIfAborted(signal);
    if (job.type === 'load') return this.load(job.modelDir, job.settings);
    const model = this.model;
    if (!model) throw new AppError('model_missing', 'no model is loaded in the inference worker; send load first');
    const enc = await this.encode(model, job.imagePath);
    throwIfAborted(signal);
    const ids: number[] = [];
    const onToken = (tokenId: number): void => {
      ids.push(tokenId);
      this.post({ type: 'token', id: job.id, tokenId, text: model.decode(ids) });
    };
    let out: GeneratedText;
    if (job.type === 'caption') {
      this.log('debug', `caption ${job.id} prompt: ${JSON.stringify(job.options.prompt ?? '')}`);
      out = await model.caption(enc, { ...job.options, onToken, signal });
    } else {
      this.log('debug', `ask ${job.id} question: ${JSON.stringify(job.question)}`);
      const history = job.history ?? [];
      out = history.length
        ? await model.chat(enc, history, job.question, { ...job.options, onToken, signal })
        : await model.ask(enc, job.question, { ...job.options, onToken, signal });
    }
    this.log('debug', `${job.type} ${job.id} text: ${JSON.stringify(out.text)}`);
    const { text, tokenIds, endedWithEos, score } = out;
    return { text, tokenIds, endedWithEos, ...(score === undefined ? {} : { score }) };
  }

  private async load(dir: string, settings: { threads?: number; executionProvider?: ExecutionProvider }): Promise<ModelInfo> {
    // Load the new model before releasing the old one: a failed load leaves the worker usable.
    const model = await Blip2Model.load(dir, { ...settings, onWarning: (m) => this.log('warn', m) });
    const old = this.model;
    this.model = model;
    this.encodings.clear();
    await old?.dispose().catch((err) => this.log('warn', `releasing the previous model failed: ${(err as Error).message}`));
    const m = model.manifest;
    return {
      dir, kind: m.kind, architecture: m.architecture, weights: m.quantization.weights, imageSize: m.shapes.imageSize,
      queries: m.shapes.queries, hasTokenizer: model.tokenizer !== null, createdAt: m.createdAt,
    };
  }

  /** The vision pass, once per photo version: a chat's follow-up turns reuse it. */
  private async encode(model: Blip2Model, imagePath: string): Promise<ImageEncoding> {
    // A failed stat is left to encodeImage, which reports it as photo_unreadable naming the file.
    const key = await stat(imagePath).then((s) => `${s.mtimeMs}:${s.size}:${imagePath}`, () => null);
    const hit = key === null ? undefined : this.encodings.get(key);
    if (hit && key !== null) {
      this.encodings.delete(key);
      this.encodings.set(key, hit);
      return hit;
    }
    const enc = await model.encodeImage(imagePath);
    if (key !== null) {
      this.encodings.set(key, enc);
      if (this.encodings.size > ENCODING_CACHE_SIZE) this.encodings.delete(this.encodings.keys().next().value!);
    }
    return enc;
  }

  private fail(id: string, err: unknown): void {
    const error = toErrorData(err);
    this.post({ type: 'error', id, error });
    this.log(error.code === 'cancelled' ? 'info' : 'warn', `request ${id} failed: ${error.code}: ${error.message}`);
  }

  private log(level: LogLevel, message: string): void {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.options.logLevel ?? 'info']) return;
    this.post({ type: 'log', level, message: `[inference-worker ${this.options.pid}] ${message}` });
  }

  private post(message: WorkerMessage): void {
    try {
      this.options.post(message);
    } catch {
      // The channel is gone (the host died); the entry exits on disconnect, nothing to tell anyone.
    }
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new AppError('cancelled', 'the request was cancelled');
}
