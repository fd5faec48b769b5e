// The inference worker's request handler, independent of the transport: worker-main.ts (a Node child
// process) and, later, the Electron utility-process entry feed it raw messages and give it a `post`
// function. It validates every message, runs generation requests one at a time (one model, one set
// of ONNX Runtime sessions), and handles `cancel` at once through an AbortController per request.
// Every request ends in exactly one `result` or `error`; nothing a message contains can crash it.
// It may hold a retrieval model beside the captioning model (worker-retrieval.ts: encodings, the
// shared vision pass).
import { basename } from 'node:path';
import { AppError, errorCode, throwIfAborted, toErrorData } from '../shared/errors.ts';
import { modelLabel } from '../shared/model-manifest.ts';
import { Blip2Model, type GeneratedText, type ImageEncoding } from '../runtime/blip2/model.ts';
import type { ExecutionProvider, SessionSettings } from '../runtime/session.ts';
import {
  type AnalyzeResultData, type GeneratedTextData, HostMessageSchema, type LogLevel, type ModelInfo,
  type ParsedHostMessage, type ResultValue, type RetrievalModelInfo, WIRE_EXECUTION_PROVIDERS, type WorkerMessage,
  describeIssues, salvageId,
} from './protocol.ts';
import { LocalRetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import { encodeMatrix } from './matrix-codec.ts';
import { ImageEncodings, type PhotoInput, retrievalInfo } from './worker-retrieval.ts';

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


export class WorkerService {
  private model: Blip2Model | null = null;
  /** The settings `model` was loaded with (to load it again when a low-memory replacement fails). */
  private modelSettings: SessionSettings & { lowMemory?: boolean } = {};
  private retrieval: LocalRetrievalEncoder | null = null;
  private readonly queue: Queued[] = [];
  private running: Queued | null = null;
  private idle: Promise<void> = Promise.resolve();
  private closing = false;
  /** Vision outputs per photo version, reused by a chat's follow-up turns and by retrieval. */
  private readonly encodings = new ImageEncodings();

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
    this.encodings.setModels(null, null);
    await this.model?.dispose().catch((err) => this.log('warn', `releasing the model failed: ${(err as Error).message}`));
    await this.retrieval?.dispose().catch((err) => this.log('warn', `releasing the retrieval model failed: ${(err as Error).message}`));
    this.model = null;
    this.retrieval = null;
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
        // Logged first: what the worker says about a request always reaches the host before its answer.
        this.log('info', `${next.job.type} ${next.job.id} done in ${Math.round(performance.now() - started)} ms`);
        this.post({ type: 'result', id: next.job.id, value });
      } catch (err) {
        this.fail(next.job.id, err);
      } finally {
        this.running = null;
      }
    }
  }

  private async run(job: Job, signal: AbortSignal): Promise<ResultValue> {
    throwIfAborted(signal);
    switch (job.type) {
      case 'load': return this.load(job.modelDir, job.settings);
      case 'loadRetrieval': return this.loadRetrieval(job.modelDir, job.settings);
      case 'embedTexts': {
        const slot = this.requireRetrieval();
        return { vectors: encodeMatrix(await slot.embedTextRows(job.texts, signal), job.texts.length, slot.embedDim) };
      }
      case 'embedImage': {
        const slot = this.requireRetrieval();
        const enc = await this.encodings.forRetrieval(slot, await this.encodings.open(job.imagePath));
        return { vectors: encodeMatrix(enc.imageFeatures, slot.queries, slot.embedDim) };
      }
      case 'itm': {
        const slot = this.requireRetrieval();
        // Texts are checked before the photo is encoded: an empty text fails fast.
        job.texts.forEach((t, i) => slot.tokenize(t, job.texts.length > 1 ? i : undefined));
        const enc = await this.encodings.forRetrieval(slot, await this.encodings.open(job.imagePath));
        return { probabilities: await slot.itmWith(enc.imageEmbeds, job.texts, signal) };
      }
      case 'analyze': return this.analyze(job, signal);
      default: {
        const model = this.requireModel();
        const enc = await this.encodings.forCaption(model, await this.encodings.open(job.imagePath));
        if (job.type === 'caption') await this.prefetch(job.prefetch, false, signal);
        throwIfAborted(signal);
        if (job.type === 'caption') {
          this.log('debug', `caption ${job.id} prompt: ${JSON.stringify(job.options.prompt ?? '')}`);
          return this.generate(job.id, model, (onToken) => model.caption(enc, { ...job.options, onToken, signal }));
        }
        this.log('debug', `ask ${job.id} question: ${JSON.stringify(job.question)}`);
        const history = job.history ?? [];
        return this.generate(job.id, model, (onToken) => history.length
          ? model.chat(enc, history, job.question, { ...job.options, onToken, signal })
          : model.ask(enc, job.question, { ...job.options, onToken, signal }));
      }
    }
  }

  /** Caption and/or retrieval features of one photo: one decode, one vision pass when shared. */
  private async analyze(job: Extract<Job, { type: 'analyze' }>, signal: AbortSignal): Promise<AnalyzeResultData> {
    const { id, imagePath, caption, embed } = job;
    // Both models are checked before any work, so a missing one costs nothing.
    const model = caption ? this.requireModel() : null;
    const slot = embed ? this.requireRetrieval() : null;
    const before = this.encodings.visionRuns;
    const photo: PhotoInput = await this.encodings.open(imagePath);
    const enc: ImageEncoding | null = model && await this.encodings.forCaption(model, photo);
    throwIfAborted(signal);
    const features = slot && (await this.encodings.forRetrieval(slot, photo)).imageFeatures;
    const visionPasses = this.encodings.visionRuns - before;
    this.log('debug', `analyze ${id}: ${visionPasses} vision pass(es), shared vision ${this.encodings.sharedVision}`);
    if (model) await this.prefetch(job.prefetch, embed, signal);
    throwIfAborted(signal);
    let text: GeneratedTextData | undefined;
    if (model && enc) {
      const options = caption ?? {};
      this.log('debug', `analyze ${id} prompt: ${JSON.stringify(options.prompt ?? '')}`);
      text = await this.generate(id, model, (onToken) => model.caption(enc, { ...options, onToken, signal }));
    }
    return {
      ...(text ? { caption: text } : {}),
      ...(slot && features ? { features: encodeMatrix(features, slot.queries, slot.embedDim) } : {}),
      visionPasses,
    };
  }

  /**
   * Low-memory mode: when this request had to open the image half, encodes the photos the host
   * expects to ask about next too, so their own requests find the encodings cached and only the
   * language half is opened. A request whose photo was cached prefetches nothing: the host's list
   * moves one photo per request, and opening the image half for its newest photo would switch
   * halves twice per photo.
   */
  private async prefetch(paths: readonly string[] | undefined, embed: boolean, signal: AbortSignal): Promise<void> {
    const model = this.model;
    if (!paths?.length || !model?.halves.lowMemory || !model.halves.loaded.includes('image')) return;
    for (const path of paths) { // at most PREFETCH_LIMIT (protocol.ts): the message schema says so
      if (signal.aborted) return;
      try {
        const photo = await this.encodings.open(path);
        await this.encodings.forCaption(model, photo);
        // The retrieval features too, so that the photo's own request runs no vision pass at all.
        if (embed && this.retrieval) await this.encodings.forRetrieval(this.retrieval, photo);
      } catch (err) {
        // An unreadable photo is its own request's to report (naming the file); anything else
        // (the model failing) would fail every photo after it too, so the prefetch stops.
        if (errorCode(err) === 'photo_unreadable') continue;
        this.log('warn', `encoding queued photos ahead stopped at ${path}: ${(err as Error).message}`);
        return;
      }
    }
  }

  /** Runs a generation, streaming each token with the text so far as `token` messages. */
  private async generate(id: string, model: Blip2Model, run: (onToken: (tokenId: number) => void) => Promise<GeneratedText>): Promise<GeneratedTextData> {
    const ids: number[] = [];
    const out = await run((tokenId) => {
      ids.push(tokenId);
      this.post({ type: 'token', id, tokenId, text: model.decode(ids) });
    });
    this.log('debug', `${id} text: ${JSON.stringify(out.text)}`);
    const { text, tokenIds, endedWithEos, score } = out;
    return { text, tokenIds, endedWithEos, ...(score === undefined ? {} : { score }) };
  }

  private requireModel(): Blip2Model {
    if (!this.model) throw new AppError('model_missing', 'no captioning model is loaded in the inference worker; send load first');
    return this.model;
  }

  private requireRetrieval(): LocalRetrievalEncoder {
    if (!this.retrieval) {
      throw new AppError('model_missing', 'no retrieval model (blip2-itm) is loaded in the inference worker; send loadRetrieval first');
    }
    return this.retrieval;
  }

  private async load(dir: string, settings: SessionSettings & { lowMemory?: boolean }): Promise<ModelInfo> {
    const { lowMemory, ...session } = settings;
    // The new model loads before the old one is released, so a failed load leaves the worker usable;
    // in low-memory mode the old one goes first, and comes back if the new one fails.
    const model = lowMemory && this.model
      ? await this.replaceFirst(dir, session)
      : await Blip2Model.load(dir, this.sessionSettings(session), { lowMemory });
    const old = this.model;
    this.model = model;
    this.modelSettings = settings;
    this.encodings.setModels(model, this.retrieval);
    await old?.dispose().catch((err) => this.log('warn', `releasing the previous model failed: ${(err as Error).message}`));
    if (this.retrieval) this.log('info', `vision shared with the retrieval model: ${this.encodings.sharedVision}`);
    const m = model.manifest;
    return {
      dir, kind: m.kind, architecture: m.architecture, weights: m.quantization.weights, imageSize: m.shapes.imageSize,
      queries: m.shapes.queries, hasTokenizer: model.tokenizer !== null, createdAt: m.createdAt,
      label: modelLabel(m, basename(dir)), language: model.language.type, lowMemory: model.halves.lowMemory,
    };
  }

  /**
   * Low memory: the old model is released before the new one loads (both at once would be the peak
   * this mode exists to avoid). If the new one fails, the old one is loaded again, so the worker
   * stays usable as it does when a normal load fails.
   */
  private async replaceFirst(dir: string, session: SessionSettings): Promise<Blip2Model> {
    const old = this.model!;
    const oldSettings = this.modelSettings;
    this.encodings.setModels(null, this.retrieval);
    this.model = null;
    await old.dispose().catch((err) => this.log('warn', `releasing the previous model failed: ${(err as Error).message}`));
    try {
      return await Blip2Model.load(dir, this.sessionSettings(session), { lowMemory: true });
    } catch (err) {
      const { lowMemory: wasLow, ...was } = oldSettings;
      try {
        this.model = await Blip2Model.load(old.dir, this.sessionSettings(was), { lowMemory: wasLow });
        this.encodings.setModels(this.model, this.retrieval);
      } catch (again) {
        this.log('warn', `reloading the previous model ${old.dir} failed too: ${(again as Error).message}`);
      }
      throw err;
    }
  }

  private async loadRetrieval(dir: string, settings: SessionSettings & { lowMemory?: boolean }): Promise<RetrievalModelInfo> {
    const { lowMemory: _, ...session } = settings; // the retrieval model has no halves to switch
    const slot = await LocalRetrievalEncoder.load(dir, this.sessionSettings(session), { deferVision: true });
    const old = this.retrieval;
    this.retrieval = slot;
    this.encodings.setModels(this.model, slot);
    await old?.dispose().catch((err) => this.log('warn', `releasing the previous retrieval model failed: ${(err as Error).message}`));
    this.log('info', `retrieval model loaded; vision shared with the captioning model: ${this.encodings.sharedVision}`);
    return retrievalInfo(slot, this.encodings.sharedVision);
  }

  private sessionSettings(settings: SessionSettings): SessionSettings {
    return { ...settings, onWarning: (m) => this.log('warn', m) };
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
