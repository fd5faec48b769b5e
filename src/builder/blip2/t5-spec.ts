// The sizes and options of a T5 (Flan-T5) language model inside a BLIP-2 checkpoint. Sizes come from
// tensor shapes (heads and buckets from the relative-attention table, d_kv from the q projection,
// layer counts from the blocks present); config.json only supplies what no shape shows: the
// feed-forward activation, the maximum relative distance, the norm epsilon, tying and token ids.
// HF T5Config defaults fill the gaps, with its rule that `dense_act_fn` (when present) wins over the
// activation named in `feed_forward_proj`.
import { z } from 'zod';
import { AppError } from '../../shared/errors.ts';
import type { TensorShapes } from '../onnx/layers.ts';
import { type Blip2Config, type LanguageSpec, countLayers } from './spec.ts';

export const T5 = 'language_model.';

/** How a T5 feed-forward activation is computed (ONNX Runtime kernels). */
export const T5_ACTIVATIONS = {
  gelu_new: 'tanh', // FastGelu: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
  gelu_pytorch_tanh: 'tanh',
  gelu: 'erf', // exact GELU, what BLIP-2's Flan-T5 checkpoints use
  relu: 'relu', // the original (non-Flan) T5
} as const;
export type T5Activation = keyof typeof T5_ACTIVATIONS;

export interface T5Spec extends LanguageSpec {
  type: 't5';
  /** Decoder blocks are `layers`; encoder blocks here. */
  encoderLayers: number;
  /** heads × d_kv: the width of q, k, v (may differ from d_model). */
  innerDim: number;
  buckets: number;
  maxDistance: number;
  act: T5Activation;
  /** wi_0 (activated) × wi_1 (linear), or a single wi. */
  gated: boolean;
  /** lm_head tied to the shared embedding: the decoder output is scaled by d_model^-0.5 first. */
  tiedHead: boolean;
  decoderStart: number;
}

const int = z.number().int();
const T5ConfigSchema = z.looseObject({
  d_model: int.positive().optional(),
  d_kv: int.positive().optional(),
  num_heads: int.positive().optional(),
  relative_attention_num_buckets: int.positive().optional(),
  relative_attention_max_distance: int.positive().optional(),
  layer_norm_epsilon: z.number().positive().optional(),
  feed_forward_proj: z.string().optional(),
  dense_act_fn: z.string().optional(),
  is_gated_act: z.boolean().optional(),
  tie_word_embeddings: z.boolean().optional(),
  decoder_start_token_id: int.nullable().optional(),
  n_positions: int.positive().optional(),
});

/** The token table: `shared` in current checkpoints; older files may only keep a stack's copy. */
export function t5EmbeddingName(src: TensorShapes): string {
  for (const n of ['shared.weight', 'encoder.embed_tokens.weight', 'decoder.embed_tokens.weight']) if (src.has(`${T5}${n}`)) return `${T5}${n}`;
  return `${T5}shared.weight`; // its absence is reported by shape()
}

/** HF T5Config: the activation of `feed_forward_proj` ("gated-gelu" meaning gelu_new), unless
 *  `dense_act_fn` is given, which is set after and wins (BLIP-2's Flan-T5 configs say "gelu"). */
function activationOf(t: z.infer<typeof T5ConfigSchema>): { act: string; gated: boolean } {
  const proj = t.feed_forward_proj ?? 'relu';
  const parts = proj.split('-');
  const fromProj = proj === 'gated-gelu' ? 'gelu_new' : parts[parts.length - 1];
  return { act: t.dense_act_fn ?? fromProj, gated: t.is_gated_act ?? parts[0] === 'gated' };
}

export function t5Spec(src: TensorShapes, cfg: Blip2Config, file: string): T5Spec {
  const parsed = T5ConfigSchema.safeParse(cfg.text_config ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('checkpoint_invalid', `config.json text_config is not a valid T5 configuration: ${issue.path.join('.')}: ${issue.message}`, { file });
  }
  const t = parsed.data;
  const bad = (what: string) => new AppError('checkpoint_invalid', what, { file });
  const unsupported = (what: string) => new AppError('checkpoint_unsupported', what, { file });

  const [vocabRows, hidden] = src.shape(t5EmbeddingName(src));
  const enc0 = `${T5}encoder.block.0.layer.0.SelfAttention.`;
  const [buckets, heads] = src.shape(`${enc0}relative_attention_bias.weight`);
  const [innerDim, qIn] = src.shape(`${enc0}q.weight`);
  if (qIn !== hidden) throw bad(`T5 attention takes ${qIn}-wide input but the embeddings are ${hidden} wide`);
  if (innerDim % heads !== 0) throw bad(`T5 attention width ${innerDim} is not divisible by the ${heads} heads of the relative-attention table`);
  const headDim = innerDim / heads;
  if (t.num_heads !== undefined && t.num_heads !== heads) throw bad(`config says ${t.num_heads} heads but the relative-attention table has ${heads} columns`);
  if (t.d_kv !== undefined && t.d_kv !== headDim) throw bad(`config says d_kv ${t.d_kv} but the attention weights give ${headDim} per head`);
  if (t.d_model !== undefined && t.d_model !== hidden) throw bad(`config says d_model ${t.d_model} but the embeddings are ${hidden} wide`);
  if (t.relative_attention_num_buckets !== undefined && t.relative_attention_num_buckets !== buckets) {
    throw bad(`config says ${t.relative_attention_num_buckets} relative-attention buckets but the table has ${buckets} rows`);
  }
  const decBias = `${T5}decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight`;
  const [decBuckets, decHeads] = src.shape(decBias);
  if (decBuckets !== buckets || decHeads !== heads) throw bad(`the decoder's relative-attention table is ${decBuckets}×${decHeads}, the encoder's ${buckets}×${heads}`);

  const encoderLayers = countLayers(src, `${T5}encoder.block.`, 'layer.0.SelfAttention.q.weight');
  const layers = countLayers(src, `${T5}decoder.block.`, 'layer.0.SelfAttention.q.weight');
  if (!encoderLayers || !layers) throw bad(`a T5 needs encoder and decoder blocks (found ${encoderLayers} and ${layers})`);
  for (const [stack, n] of [['encoder', encoderLayers], ['decoder', layers]] as const) {
    for (let i = 1; i < n; i++) {
      if (src.has(`${T5}${stack}.block.${i}.layer.0.SelfAttention.relative_attention_bias.weight`)) {
        throw unsupported(`T5 ${stack} block ${i} has its own relative-attention table (as UMT5 does); only T5's one table per stack, in block 0, is supported`);
      }
    }
  }

  const { act, gated: gatedCfg } = activationOf(t);
  if (!Object.hasOwn(T5_ACTIVATIONS, act)) {
    throw unsupported(`T5 feed-forward activation "${act}" (dense_act_fn / feed_forward_proj) is not supported; supported: ${Object.keys(T5_ACTIVATIONS).join(', ')}`);
  }
  const ff = `${T5}encoder.block.0.layer.1.DenseReluDense.`;
  const gated = src.has(`${ff}wi_0.weight`);
  if (gated !== gatedCfg) {
    throw bad(`config says the T5 feed-forward is ${gatedCfg ? '' : 'not '}gated but the weights are ${gated ? 'wi_0/wi_1 (gated)' : 'a single wi'}`);
  }
  const ffn = src.shape(`${ff}${gated ? 'wi_0' : 'wi'}.weight`)[0];

  const tiedHead = t.tie_word_embeddings ?? true; // T5Config's default; Flan-T5 sets false
  if (!tiedHead) {
    const [headRows, headIn] = src.shape(`${T5}lm_head.weight`);
    if (headRows !== vocabRows || headIn !== hidden) throw bad(`lm_head is ${headRows}×${headIn}, expected ${vocabRows}×${hidden}`);
  }
  const maxDistance = t.relative_attention_max_distance ?? 128;
  if (maxDistance <= Math.floor(buckets / 2)) {
    // HF's logarithmic buckets divide by log(max_distance / (buckets / 2)): zero or negative here.
    throw bad(`relative_attention_max_distance ${maxDistance} must exceed half the ${buckets} buckets`);
  }
  const tc = cfg.text_config ?? {};
  const eos = tc.eos_token_id ?? 1;
  const pad = tc.pad_token_id ?? 0;
  const decoderStart = t.decoder_start_token_id ?? pad;
  return {
    type: 't5', hidden, layers, encoderLayers, heads, headDim, innerDim, ffn, vocabRows,
    // Relative positions have no hard limit; T5 was trained on 512-token inputs (its tokenizer's limit).
    maxPositions: t.n_positions ?? 512,
    eps: t.layer_norm_epsilon ?? 1e-6, bos: tc.bos_token_id ?? decoderStart, eos: Array.isArray(eos) ? eos : [eos], pad,
    buckets, maxDistance, act: act as T5Activation, gated, tiedHead, decoderStart,
  };
}
