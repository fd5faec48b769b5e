// The one place that creates ONNX Runtime sessions: execution provider choice (with a clear
// fallback to CPU), threads, memory arena and graph optimization.
import * as ort from 'onnxruntime-node';
import { existsSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { AppError } from '../shared/errors.ts';
import { SAVE_CONFIG, cacheEntry, prepareSave } from './session-cache.ts';

export { ort };

export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export interface SessionSettings {
  /** Intra-op threads; 0 or unset = one per core the OS gives this process (ONNX Runtime's own
   *  default counted one thread on a 2-core VM: decode ran 1.6× slower). */
  threads?: number;
  executionProvider?: ExecutionProvider;
  /** Told when a requested provider is unavailable and CPU is used instead. */
  onWarning?: (message: string) => void;
  /** Folder for optimized-model caching (see session-cache.ts); unset = no caching. */
  cacheDir?: string;
}

/** Identifies the graph for the optimized-model cache (its sha256 from the model manifest). */
export interface GraphIdentity {
  sha256: string;
}

/** The providers to ask for: the requested one if this onnxruntime-node build has it, then CPU. */
export function resolveProviders(wanted: ExecutionProvider = 'cpu', warn: (m: string) => void = () => {}): ExecutionProvider[] {
  if (!EXECUTION_PROVIDERS.includes(wanted)) {
    throw new AppError('invalid_argument', `unknown execution provider "${wanted}"; choose one of ${EXECUTION_PROVIDERS.join(', ')}`);
  }
  if (wanted === 'cpu') return ['cpu'];
  const backend = ort.listSupportedBackends().find((b) => b.name === wanted);
  if (!backend) {
    warn(`execution provider "${wanted}" is not available in onnxruntime-node on ${process.platform}-${process.arch}; using CPU`);
    return ['cpu'];
  }
  return [wanted, 'cpu'];
}

/** The per-user cache of optimized graphs the CLI and app use. */
export function defaultCacheDir(): string {
  return process.env.PHOTO_ASSISTANT_CACHE ?? join(homedir(), '.cache', 'photo-assistant', 'ort');
}

export async function createSession(path: string, settings: SessionSettings = {}, identity?: GraphIdentity): Promise<ort.InferenceSession> {
  const warn = settings.onWarning ?? ((m: string) => process.stderr.write(`photo-assistant: ${m}\n`));
  const providers = resolveProviders(settings.executionProvider, warn);
  const options = (eps: ExecutionProvider[]): ort.InferenceSession.SessionOptions => ({
    executionProviders: eps,
    graphOptimizationLevel: 'all',
    intraOpNumThreads: intraOpThreads(settings.threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: true,
    enableMemPattern: true,
  });
  try {
    if (settings.cacheDir && identity) return await createCached(path, options(providers), settings.cacheDir, identity, providers[0], warn);
    return await ort.InferenceSession.create(path, options(providers));
  } catch (cause) {
    if (providers[0] !== 'cpu') {
      // The provider exists in this build but could not start (no driver, no device): run on CPU.
      warn(`execution provider "${providers[0]}" failed to start (${(cause as Error).message.split('\n')[0]}); using CPU`);
      return createSession(path, { ...settings, executionProvider: 'cpu' });
    }
    throw new AppError('model_invalid', `ONNX Runtime could not load the graph: ${(cause as Error).message}`, { file: path, cause });
  }
}

async function createCached(
  path: string,
  options: ort.InferenceSession.SessionOptions,
  cacheDir: string,
  identity: GraphIdentity,
  provider: string,
  warn: (m: string) => void,
): Promise<ort.InferenceSession> {
  const entry = cacheEntry(cacheDir, path, identity.sha256, provider);
  if (existsSync(entry.model)) {
    try {
      return await ort.InferenceSession.create(entry.model, { ...options, graphOptimizationLevel: 'disabled' });
    } catch (e) {
      warn(`optimized-model cache entry unusable, rebuilding it (${(e as Error).message.split('\n')[0]})`);
      await rm(entry.dir, { recursive: true, force: true });
    }
  }
  const save = await prepareSave(entry);
  try {
    const session = await ort.InferenceSession.create(path, { ...options, optimizedModelFilePath: save.path, extra: { session: SAVE_CONFIG } });
    await save.commit();
    return session;
  } catch (e) {
    // Saving can fail (disk full, read-only cache): run without the cache rather than not at all.
    await save.abandon();
    warn(`could not cache the optimized graph in ${cacheDir}: ${(e as Error).message.split('\n')[0]}`);
    return ort.InferenceSession.create(path, options);
  }
}

/** The intra-op thread count to ask for: the setting, or every core available to this process. */
export function intraOpThreads(setting?: number): number {
  return setting && setting > 0 ? setting : availableParallelism();
}

export function floatTensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64Tensor(values: readonly number[] | BigInt64Array, dims: readonly number[]): ort.Tensor {
  const data = values instanceof BigInt64Array ? values : BigInt64Array.from(values, (v) => BigInt(v));
  return new ort.Tensor('int64', data, dims);
}

/** Runs a session, turning ONNX Runtime's failures into errors that say which graph failed. */
export async function run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, what: string): Promise<ort.InferenceSession.OnnxValueMapType> {
  try {
    return await session.run(feeds);
  } catch (cause) {
    throw new AppError('inference_failed', `${what} failed: ${(cause as Error).message}`, { cause });
  }
}
