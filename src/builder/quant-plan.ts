// Which weights get quantized, and how, for each --quant choice. One table, decided by the
// accuracy and speed numbers of `npm run bench` (see README "Quantization").
import { AppError } from '../shared/errors.ts';
import type { QuantPolicy } from './onnx/layers.ts';
import { checkBlockSize } from './onnx/quantize.ts';

export type Quantization = 'fp32' | 'int8' | 'int4';
export const QUANTIZATIONS: readonly Quantization[] = ['fp32', 'int8', 'int4'];

export interface QuantSettings {
  quant?: Quantization;
  /** Block size along K (power of two ≥ 16). Default 32. */
  blockSize?: number;
  /** Asymmetric blocks (a zero point per block) instead of symmetric. Default symmetric. */
  asymmetric?: boolean;
  /** MatMulNBits accuracy_level: 4 quantizes activations to int8 (fast on CPU), 0 keeps them float. */
  accuracyLevel?: number;
}

/** Per graph role; absent = float32. */
export interface QuantPlan {
  vision?: QuantPolicy;
  qformer?: QuantPolicy;
  decoder?: QuantPolicy;
  lmHead?: QuantPolicy;
  /** Token embedding table in float16 (lookups only; exact enough for every released checkpoint). */
  embeddingsFp16?: boolean;
}

export function quantPlan(s: QuantSettings): QuantPlan {
  const quant = s.quant ?? 'fp32';
  if (!QUANTIZATIONS.includes(quant)) {
    throw new AppError('invalid_argument', `unknown quantization "${quant}"; choose one of ${QUANTIZATIONS.join(', ')}`);
  }
  const blockSize = s.blockSize ?? 32;
  try {
    checkBlockSize(blockSize);
  } catch (e) {
    throw new AppError('invalid_argument', (e as Error).message);
  }
  const accuracyLevel = s.accuracyLevel ?? 4;
  if (![0, 1, 2, 3, 4].includes(accuracyLevel)) throw new AppError('invalid_argument', `accuracy level must be 0-4, got ${accuracyLevel}`);
  const symmetric = !s.asymmetric;
  const int8: QuantPolicy = { bits: 8, blockSize, symmetric, accuracyLevel };
  const int4: QuantPolicy = { bits: 4, blockSize, symmetric, accuracyLevel };
  // The image side runs 257 (vision) or 32 (Q-Former) rows per matrix: per-channel int8 weights with
  // activations quantized per call use the CPU's int8 dot products (VNNI): measured 1,126 GFLOP/s
  // against 359 for int4 MatMulNBits and 189 for fp32 (`npm run bench:kernels`).
  const dynamic: QuantPolicy = { bits: 8, blockSize: 0, symmetric: true, accuracyLevel: 0, kernel: 'DynamicQuantizeMatMul' };
  if (quant === 'fp32') return {};
  // int8: the accurate choice, 8-bit blocks everywhere (activations quantized per block of 32).
  if (quant === 'int8') return { vision: int8, qformer: int8, decoder: int8, lmHead: int8, embeddingsFp16: true };
  // int4: the fast choice. The language model's matrices in 4 bits (decoding one token reads them
  // all: bytes are time); its LM head (whose logits pick every token) in 8-bit blocks; the image
  // side in per-channel int8 with dynamic activations (more accurate than 4-bit blocks and 3× faster).
  return { vision: dynamic, qformer: dynamic, decoder: int4, lmHead: int8, embeddingsFp16: true };
}
