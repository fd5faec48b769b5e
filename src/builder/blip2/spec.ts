// The sizes of a BLIP-2 checkpoint. Every size that a tensor shape can tell is read from the
// tensors; config.json (where the hub's vision config is empty) only supplies what no shape
// shows: head counts, norm epsilons, cross-attention frequency, token ids. HF class defaults fill gaps.
import { z } from 'zod';
import { AppError } from '../../shared/errors.ts';
import type { TensorShapes } from '../onnx/layers.ts';

const num = z.number().finite();
const int = z.number().int();

const ConfigSchema = z.looseObject({
  architectures: z.array(z.string()).optional(),
  model_type: z.string().optional(),
  num_query_tokens: int.optional(),
  vision_config: z.looseObject({
    num_attention_heads: int.positive().optional(),
    layer_norm_eps: num.optional(),
  }).optional(),
  qformer_config: z.looseObject({
    num_attention_heads: int.positive().optional(),
    layer_norm_eps: num.optional(),
    cross_attention_frequency: int.positive().optional(),
    pad_token_id: int.nullable().optional(),
  }).optional(),
  text_config: z.looseObject({
    model_type: z.string().optional(),
    num_attention_heads: int.positive().optional(),
    bos_token_id: int.nullable().optional(),
    eos_token_id: z.union([int, z.array(int)]).nullable().optional(),
    pad_token_id: int.nullable().optional(),
    do_layer_norm_before: z.boolean().optional(),
    activation_function: z.string().optional(),
    layer_norm_eps: num.optional(),
  }).optional(),
});
export type Blip2Config = z.infer<typeof ConfigSchema>;

export function parseConfig(json: unknown, file: string): Blip2Config {
  const r = ConfigSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AppError('checkpoint_invalid', `config.json is not a valid BLIP-2 configuration: ${issue.path.join('.')}: ${issue.message}`, { file });
  }
  return r.data;
}

export interface VisionSpec {
  hidden: number; layers: number; heads: number; headDim: number; mlp: number;
  patch: number; imageSize: number; tokens: number; eps: number;
}
export interface QFormerSpec {
  hidden: number; layers: number; heads: number; headDim: number; intermediate: number;
  eps: number; crossLayers: number[]; encoderHidden: number; queries: number;
}
export interface LanguageSpec {
  type: string; hidden: number; layers: number; heads: number; headDim: number; ffn: number;
  vocabRows: number; maxPositions: number; eps: number; bos: number; eos: number[]; pad: number;
  /** Encoder-decoder models: the token the decoder starts from. */
  decoderStart?: number;
}

/** Counts `${prefix}{i}.` blocks present in the checkpoint. */
export function countLayers(src: TensorShapes, prefix: string, probe: string): number {
  let n = 0;
  while (src.has(`${prefix}${n}.${probe}`)) n++;
  return n;
}

function checkHeads(hidden: number, heads: number, what: string, file: string): number {
  if (hidden % heads !== 0) {
    throw new AppError('checkpoint_invalid', `${what}: hidden size ${hidden} is not divisible by ${heads} attention heads`, { file });
  }
  return hidden / heads;
}

export function visionSpec(src: TensorShapes, cfg: Blip2Config, file: string): VisionSpec {
  const [hidden, , patch] = src.shape('vision_model.embeddings.patch_embedding.weight');
  const tokens = src.shape('vision_model.embeddings.position_embedding')[1];
  const grid = Math.round(Math.sqrt(tokens - 1));
  if (grid * grid !== tokens - 1) {
    throw new AppError('checkpoint_invalid', `vision position embeddings have ${tokens} rows, not 1 + a square number of patches`, { file });
  }
  const heads = cfg.vision_config?.num_attention_heads ?? 16;
  const layers = countLayers(src, 'vision_model.encoder.layers.', 'layer_norm1.weight');
  return {
    hidden, layers, heads, headDim: checkHeads(hidden, heads, 'vision encoder', file),
    mlp: src.shape('vision_model.encoder.layers.0.mlp.fc1.weight')[0],
    patch, imageSize: grid * patch, tokens, eps: cfg.vision_config?.layer_norm_eps ?? 1e-6,
  };
}

export function qformerSpec(src: TensorShapes, cfg: Blip2Config, file: string): QFormerSpec {
  const [, queries, hidden] = src.shape('query_tokens');
  const heads = cfg.qformer_config?.num_attention_heads ?? 12;
  const layers = countLayers(src, 'qformer.encoder.layer.', 'attention.output.dense.weight');
  const crossLayers: number[] = [];
  for (let i = 0; i < layers; i++) if (src.has(`qformer.encoder.layer.${i}.crossattention.attention.key.weight`)) crossLayers.push(i);
  const freq = cfg.qformer_config?.cross_attention_frequency ?? 2;
  const expected = Array.from({ length: layers }, (_, i) => i).filter((i) => i % freq === 0);
  if (expected.join() !== crossLayers.join()) {
    throw new AppError('checkpoint_invalid', `Q-Former cross-attention layers [${crossLayers}] do not match cross_attention_frequency ${freq} (expected [${expected}])`, { file });
  }
  return {
    hidden, layers, heads, headDim: checkHeads(hidden, heads, 'Q-Former', file),
    intermediate: src.shape('qformer.encoder.layer.0.intermediate_query.dense.weight')[0],
    eps: cfg.qformer_config?.layer_norm_eps ?? 1e-12, crossLayers,
    encoderHidden: crossLayers.length ? src.shape(`qformer.encoder.layer.${crossLayers[0]}.crossattention.attention.key.weight`)[1] : 0,
    queries,
  };
}

const OPT = 'language_model.model.decoder.';

export function optSpec(src: TensorShapes, cfg: Blip2Config, file: string): LanguageSpec {
  const t = cfg.text_config ?? {};
  if (t.do_layer_norm_before === false) {
    throw new AppError('checkpoint_unsupported', 'OPT with do_layer_norm_before=false (post-LayerNorm, as in OPT-350m) is not supported; BLIP-2 uses OPT-2.7b/6.7b', { file });
  }
  if (t.activation_function && t.activation_function !== 'relu') {
    throw new AppError('checkpoint_unsupported', `OPT activation "${t.activation_function}" is not supported (only relu)`, { file });
  }
  const [vocabRows, hidden] = src.shape(`${OPT}embed_tokens.weight`);
  if (src.has(`${OPT}project_in.weight`)) {
    throw new AppError('checkpoint_unsupported', 'OPT with word_embed_proj_dim different from hidden_size (project_in/project_out) is not supported', { file });
  }
  const heads = t.num_attention_heads ?? 12;
  const eos = t.eos_token_id ?? 2;
  return {
    type: 'opt', hidden, heads, headDim: checkHeads(hidden, heads, 'OPT decoder', file),
    layers: countLayers(src, `${OPT}layers.`, 'fc1.weight'),
    ffn: src.shape(`${OPT}layers.0.fc1.weight`)[0],
    vocabRows, maxPositions: src.shape(`${OPT}embed_positions.weight`)[0] - 2,
    eps: t.layer_norm_eps ?? 1e-5, bos: t.bos_token_id ?? 2, eos: Array.isArray(eos) ? eos : [eos], pad: t.pad_token_id ?? 1,
  };
}

/** The retrieval heads and the Q-Former's own text embeddings (Blip2ForImageTextRetrieval). */
export interface RetrievalSpec {
  /** Width of the shared image-text space (vision_projection / text_projection rows). */
  embedDim: number;
  vocabRows: number; maxPositions: number; textIntermediate: number;
}

export function retrievalSpec(src: TensorShapes, q: QFormerSpec, file: string): RetrievalSpec {
  const [vocabRows, wordDim] = src.shape('embeddings.word_embeddings.weight');
  const [maxPositions, posDim] = src.shape('embeddings.position_embeddings.weight');
  const [embedDim, visIn] = src.shape('vision_projection.weight');
  const [textOut, textIn] = src.shape('text_projection.weight');
  const [classes, itmIn] = src.shape('itm_head.weight');
  const bad = (what: string) => { throw new AppError('checkpoint_invalid', what, { file }); };
  if ([wordDim, posDim, visIn, textIn, itmIn].some((d) => d !== q.hidden)) bad(`retrieval embeddings and heads must be ${q.hidden} wide (the Q-Former's hidden size)`);
  if (textOut !== embedDim) bad(`text_projection gives ${textOut} values but vision_projection ${embedDim}`);
  if (classes !== 2) bad(`itm_head has ${classes} outputs, expected 2 (no match / match)`);
  const textIntermediate = src.shape('qformer.encoder.layer.0.intermediate.dense.weight')[0];
  for (let i = 0; i < q.layers; i++) src.shape(`qformer.encoder.layer.${i}.output.dense.weight`); // names the first missing text FFN
  return { embedDim, vocabRows, maxPositions, textIntermediate };
}
