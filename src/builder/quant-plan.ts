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
  if (quant === 'fp32') return {};
  if (quant === 'int8') return { vision: int8, qformer: int8, decoder: int8, lmHead: int8, embeddingsFp16: true };
  // int4: the big matrices in 4 bits; the small Q-Former and the LM head (whose logits pick every
  // token) in 8 bits, which costs little memory and keeps the first-step logits close to fp32.
  return { vision: int4, qformer: int8, decoder: int4, lmHead: int8, embeddingsFp16: true };
}
