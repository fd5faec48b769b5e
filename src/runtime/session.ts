// The one place that creates ONNX Runtime sessions: execution provider choice (with a clear
// fallback to CPU), threads, memory arena and graph optimization.
import * as ort from 'onnxruntime-node';
import { AppError } from '../shared/errors.ts';

export { ort };

export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export interface SessionSettings {
  /** Intra-op threads; 0 lets ONNX Runtime choose (one per physical core). */
  threads?: number;
  executionProvider?: ExecutionProvider;
  /** Told when a requested provider is unavailable and CPU is used instead. */
  onWarning?: (message: string) => void;
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

export async function createSession(path: string, settings: SessionSettings = {}): Promise<ort.InferenceSession> {
  const warn = settings.onWarning ?? ((m: string) => process.stderr.write(`photo-assistant: ${m}\n`));
  const providers = resolveProviders(settings.executionProvider, warn);
  const options = (eps: ExecutionProvider[]): ort.InferenceSession.SessionOptions => ({
    executionProviders: eps,
    graphOptimizationLevel: 'all',
    intraOpNumThreads: settings.threads ?? 0,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: true,
    enableMemPattern: true,
    ...(process.env.PA_DISABLE_PREPACK ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  });
  try {
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
