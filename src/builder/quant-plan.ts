// Which weights get quantized, and how, for each --quant choice. One table, decided by the
// accuracy and speed numbers of `npm run bench` (see README "Quantization").
import { AppError } from '../shared/errors.ts';
import type { QuantPolicy } from './onnx/layers.ts';
import { checkBlockSize } from './onnx/quantize.ts';

export type Quantization = 'fp32' | 'int8' | 'int4';
export const QUANTIZATIONS: readonly Quantization[] = ['fp32', 'int8', 'int4'];

export interface QuantSettings {
  quant?: Quantization;
  /** Block size along K (power of two ≥ 16). Default 32 for int8, INT4_BLOCK_SIZE for int4's 4-bit blocks. */
  blockSize?: number;
  /** Asymmetric blocks (a zero point per block) instead of symmetric. Default symmetric. */
  asymmetric?: boolean;
  /** MatMulNBits accuracy_level: 4 quantizes activations to int8 (fast on CPU), 0 keeps them float. */
  accuracyLevel?: number;
  /**
   * int4 only: language-model projections kept in 8-bit blocks, by the end of their HF module path
   * (e.g. "fc2", "self_attn.v_proj", "self_attn.out_proj"; T5: "DenseReluDense.wo"): the layers
   * whose error matters most, at more memory and decode time. Measured with `npm run bench:quant`.
   * Unset: DEFAULT_INT8_PROJECTIONS (those of them the checkpoint has); [] = every projection 4-bit.
   */
  int8Projections?: string[];
  /** int4 only: block size of its 8-bit blocks (projections above, LM head). Default INT8_BLOCK_SIZE. */
  int8BlockSize?: number;
}

/**
 * int4's 8-bit projections by default: the FFN's output and the attention's value and output
 * projections (OPT's names, then T5's), about half of the language model's weights. Measured on the
 * full-size random OPT-2.7b (`npm run bench:quant`): the decoder's first-step logits have cosine
 * 0.9797 with fp32's when all are 4-bit (block 16: 0.9809, asymmetric: 0.9780, float activations:
 * 0.9797), 0.9857 with fc2 alone in 8 bits, 0.9931 with these three.
 */
export const DEFAULT_INT8_PROJECTIONS = ['fc2', 'self_attn.v_proj', 'self_attn.out_proj', 'DenseReluDense.wo', 'SelfAttention.v', 'SelfAttention.o'] as const;

/**
 * int4's block sizes: 64 for its 4-bit blocks, 128 for its 8-bit ones. Larger blocks mean fewer
 * float scales, which ONNX Runtime keeps twice (packed, and the original it still maps): on the
 * full-size random OPT-2.7b (`npm run bench:quant`, `npm run bench`) the first-step cosine with fp32
 * goes 0.9930 (32/32) → 0.9930 (32/128) → 0.9926 (64/128), and low-memory mode's peak from 3,040 to
 * 2,808 MiB in a first measurement (2,767 in `npm run bench`), under the 3 GB goal.
 */
export const INT4_BLOCK_SIZE = 64;
export const INT8_BLOCK_SIZE = 128;

/** Per graph role; absent = float32. */
export interface QuantPlan {
  vision?: QuantPolicy;
  qformer?: QuantPolicy;
  decoder?: QuantPolicy;
  lmHead?: QuantPolicy;
  /** Decoder projections (by the end of their HF module path) quantized with this policy instead;
   *  `chosen`: the user named them (each must exist), else the defaults (those that exist apply). */
  decoderOverrides?: { suffixes: string[]; policy: QuantPolicy; chosen: boolean };
  /** Token embedding table in float16 (lookups only; exact enough for every released checkpoint). */
  embeddingsFp16?: boolean;
}

export function quantPlan(s: QuantSettings): QuantPlan {
  const quant = s.quant ?? 'fp32';
  if (!QUANTIZATIONS.includes(quant)) {
    throw new AppError('invalid_argument', `unknown quantization "${quant}"; choose one of ${QUANTIZATIONS.join(', ')}`);
  }
  const blockSize = s.blockSize ?? (quant === 'int4' ? INT4_BLOCK_SIZE : 32);
  const int8BlockSize = s.int8BlockSize ?? (quant === 'int4' ? INT8_BLOCK_SIZE : blockSize);
  try {
    checkBlockSize(blockSize);
    checkBlockSize(int8BlockSize);
  } catch (e) {
    throw new AppError('invalid_argument', (e as Error).message);
  }
  const accuracyLevel = s.accuracyLevel ?? 4;
  if (![0, 1, 2, 3, 4].includes(accuracyLevel)) throw new AppError('invalid_argument', `accuracy level must be 0-4, got ${accuracyLevel}`);
  const symmetric = !s.asymmetric;
  const int8: QuantPolicy = { bits: 8, blockSize: int8BlockSize, symmetric, accuracyLevel };
  const int4: QuantPolicy = { bits: 4, blockSize, symmetric, accuracyLevel };
  // The image side runs 257 (vision) or 32 (Q-Former) rows per matrix: per-channel int8 weights with
  // activations quantized per call use the CPU's int8 dot products (VNNI): measured 1,126 GFLOP/s
  // against 359 for int4 MatMulNBits and 189 for fp32 (`npm run bench:kernels`).
  const dynamic: QuantPolicy = { bits: 8, blockSize: 0, symmetric: true, accuracyLevel: 0, kernel: 'DynamicQuantizeMatMul' };
  if (s.int8BlockSize !== undefined && quant !== 'int4') throw new AppError('invalid_argument', 'the 8-bit block size is an int4 option (int8 uses --block-size)');
  if (s.int8Projections?.length && quant !== 'int4') throw new AppError('invalid_argument', '8-bit projections are an int4 option');
  if (quant === 'fp32') return {};
  // int8: the accurate choice, 8-bit blocks everywhere (activations quantized per block of 32).
  if (quant === 'int8') return { vision: int8, qformer: int8, decoder: int8, lmHead: int8, embeddingsFp16: true };
  // int4: the fast choice. The language model's matrices in 4 bits (decoding one token reads them
  // all: bytes are time) but for the error-prone projections (DEFAULT_INT8_PROJECTIONS) and the LM
  // head (whose logits pick every token), in 8-bit blocks; the image side in per-channel int8 with
  // dynamic activations (more accurate than 4-bit blocks and 3× faster).
  const suffixes = s.int8Projections ?? [...DEFAULT_INT8_PROJECTIONS];
  const overrides = suffixes.length ? { decoderOverrides: { suffixes, policy: int8, chosen: s.int8Projections !== undefined } } : {};
  return { vision: dynamic, qformer: dynamic, decoder: int4, lmHead: int8, embeddingsFp16: true, ...overrides };
}
