// The one place that creates ONNX Runtime sessions: execution providers, threads, optimization.
import * as ort from 'onnxruntime-node';
import { AppError } from '../shared/errors.ts';

export { ort };

export interface SessionSettings {
  /** Intra-op threads; 0 lets ONNX Runtime choose (one per physical core). */
  threads?: number;
  executionProvider?: 'cpu';
}

export async function createSession(path: string, settings: SessionSettings = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, {
      executionProviders: [settings.executionProvider ?? 'cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: settings.threads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
  } catch (cause) {
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
