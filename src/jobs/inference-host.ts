// InferenceHost: the parent's typed client of the inference worker (modelled on VS Code's utility-
// process host): load, caption, ask, the retrieval requests, with results checked against the
// protocol's schemas and retrieval vectors (matrix-codec.ts) for shape. The process itself — start,
// crash, restart as RestartPolicy decides, shutdown — is WorkerProcess's; after a restart the host
// reloads the models the worker had (captioning and retrieval). Requests, tokens and cancel travel
// through WorkerChannel.
import type { z } from 'zod';
import type { RetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import {
  AnalyzeResultSchema, type CaptionOptions, type ChatTurnData, type GeneratedTextData,
  type ModelInfo, PREFETCH_LIMIT, ProbabilitiesResultSchema, type RetrievalModelInfo,
  RetrievalModelInfoSchema, type SessionSettingsData, VectorsResultSchema, type WireGenerationOptions, describeIssues,
} from './protocol.ts';
import { HostRetrievalEncoder } from './host-retrieval-encoder.ts';
import { decodeMatrix, splitRows, unexpectedAnswer } from './matrix-codec.ts';
import type { TransportFactory } from './transport.ts';
import type { CallOptions, Request } from './worker-channel.ts';
import { WorkerProcess, type WorkerProcessEvents } from './worker-process.ts';

export type { CallOptions } from './worker-channel.ts';

export interface PhotoCallOptions extends CallOptions {
  /** Photos likely to be asked about next (a low-memory worker encodes them now; see protocol.ts). */
  prefetch?: readonly string[];
}

const prefetchOf = (paths: readonly string[] | undefined) => (paths?.length ? { prefetch: paths.slice(0, PREFETCH_LIMIT) } : {});
export type { ExitReason } from './worker-process.ts';
export type InferenceHostEvents = WorkerProcessEvents;

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
  /** RestartPolicy: at most this many automatic restarts per restartWindowMs. Default 5 per minute. */
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

export class InferenceHost {
  private readonly proc: WorkerProcess;
  private lastLoad: { modelDir: string; settings: SessionSettingsData } | undefined;
  private lastRetrievalLoad: { modelDir: string; settings: SessionSettingsData } | undefined;
  /** Shape of the loaded retrieval model's vectors, to check what the worker returns. */
  private retrievalShape: { queries: number; embedDim: number } | undefined;

  constructor(options: InferenceHostOptions = {}) {
    this.proc = new WorkerProcess({
      transport: options.transport, startTimeoutMs: options.startTimeoutMs, shutdownTimeoutMs: options.shutdownTimeoutMs,
      restart: { maxRestarts: options.maxRestarts, windowMs: options.restartWindowMs, backoffMs: options.backoffMs },
    }, (send, isCurrent) => this.reload(send, isCurrent));
  }

  /** The worker's process id while one is running. */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  on<K extends keyof InferenceHostEvents>(event: K, listener: (event: InferenceHostEvents[K]) => void): () => void {
    return this.proc.on(event, listener);
  }

  start(): Promise<void> {
    return this.proc.start();
  }

  /** Asks the worker to finish (it cancels its work and releases the model), then kills it if it does not. */
  shutdown(): Promise<void> {
    return this.proc.shutdown();
  }

  /** Settles when the current worker takes requests (after start, or after a restart and reload: await it
   *  after an 'exit' event); rejects when the host gave up restarting, is shut down or was never started. */
  whenReady(): Promise<void> {
    return this.proc.whenReady();
  }

  /** Loads (or replaces) the model; it is reloaded automatically after a worker restart. */
  async load(modelDir: string, settings: SessionSettingsData = {}): Promise<ModelInfo> {
    const info = await this.call<ModelInfo>({ type: 'load', modelDir, settings }, {});
    this.lastLoad = { modelDir, settings };
    return info;
  }

  async caption(imagePath: string, options: CaptionOptions = {}, call: PhotoCallOptions = {}): Promise<GeneratedTextData> {
    const { prefetch, ...rest } = call;
    return this.call({ type: 'caption', imagePath, options, ...prefetchOf(prefetch) }, rest);
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
  async analyze(imagePath: string, opts: { caption?: CaptionOptions; embed?: boolean }, call: PhotoCallOptions = {}): Promise<AnalyzeResult> {
    const { prefetch, ...rest } = call;
    const request = { type: 'analyze' as const, imagePath, embed: opts.embed ?? false, ...(opts.caption ? { caption: opts.caption } : {}), ...prefetchOf(prefetch) };
    const r = await this.callParsed(request, rest, AnalyzeResultSchema);
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

  /** After a restart: the models the worker had, loaded again. */
  private async reload(send: (request: Request) => Promise<unknown>, isCurrent: () => boolean): Promise<void> {
    const loads = [
      this.lastLoad && { type: 'load' as const, ...this.lastLoad },
      this.lastRetrievalLoad && { type: 'loadRetrieval' as const, ...this.lastRetrievalLoad },
    ];
    for (const load of loads) {
      if (!load) continue;
      try {
        await send(load);
      } catch (err) {
        // A worker without a model still answers: the next request gets a clear model_missing error.
        if (isCurrent()) this.proc.log('error', `reloading ${load.modelDir} after a restart failed: ${(err as Error).message}`);
        else throw err;
      }
    }
  }

  /** A request whose result must match `schema` (the worker's answer is data, checked like any). */
  private async callParsed<S extends z.ZodType>(request: Request, call: CallOptions, schema: S): Promise<z.infer<S>> {
    const value = await this.call<unknown>(request, call);
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw unexpectedAnswer(`${request.type} result: ${describeIssues(parsed.error)}`);
    return parsed.data;
  }

  private call<T>(request: Request, call: CallOptions): Promise<T> {
    return this.proc.call<T>(request, call);
  }
}
