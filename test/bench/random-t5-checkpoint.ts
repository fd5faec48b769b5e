// A full-size random-weight BLIP-2 Flan-T5-XL checkpoint with the real Salesforce/blip2-flan-t5-xl
// tensor names and shapes (F16, two shards + index), written like the OPT one in random-checkpoint.ts.
// For benchmarks only; never committed.
import { OPT_27B, type TensorDef, blip2VisionQFormerTensors, ensureRandomShards } from './random-checkpoint.ts';

export const FLAN_T5_XL = { hidden: 2048, dKv: 64, heads: 32, ffn: 5120, encoderLayers: 24, decoderLayers: 24, vocab: 32128, buckets: 32 };

export function blip2FlanT5XlTensors(): TensorDef[] {
  const t = blip2VisionQFormerTensors();
  const x = FLAN_T5_XL;
  const inner = x.heads * x.dKv;
  const w = (name: string, shape: number[], kind: TensorDef['kind'] = 'weight') => t.push({ name, shape, kind });
  w('language_projection.weight', [x.hidden, OPT_27B.qformer.hidden]);
  w('language_projection.bias', [x.hidden], 'bias');
  const L = 'language_model.';
  w(`${L}shared.weight`, [x.vocab, x.hidden], 'embed');
  for (const stack of ['encoder', 'decoder'] as const) {
    const layers = stack === 'encoder' ? x.encoderLayers : x.decoderLayers;
    for (let i = 0; i < layers; i++) {
      const p = `${L}${stack}.block.${i}.layer.`;
      const attn = (a: string) => {
        for (const n of ['q', 'k', 'v']) w(`${a}.${n}.weight`, [inner, x.hidden]);
        w(`${a}.o.weight`, [x.hidden, inner]);
      };
      attn(`${p}0.SelfAttention`);
      if (i === 0) w(`${p}0.SelfAttention.relative_attention_bias.weight`, [x.buckets, x.heads], 'embed');
      w(`${p}0.layer_norm.weight`, [x.hidden], 'norm_w');
      let ff = 1;
      if (stack === 'decoder') {
        attn(`${p}1.EncDecAttention`);
        w(`${p}1.layer_norm.weight`, [x.hidden], 'norm_w');
        ff = 2;
      }
      w(`${p}${ff}.DenseReluDense.wi_0.weight`, [x.ffn, x.hidden]);
      w(`${p}${ff}.DenseReluDense.wi_1.weight`, [x.ffn, x.hidden]);
      w(`${p}${ff}.DenseReluDense.wo.weight`, [x.hidden, x.ffn]);
      w(`${p}${ff}.layer_norm.weight`, [x.hidden], 'norm_w');
    }
    w(`${L}${stack}.final_layer_norm.weight`, [x.hidden], 'norm_w');
  }
  w(`${L}lm_head.weight`, [x.vocab, x.hidden]);
  return t;
}

const CONFIG = {
  architectures: ['Blip2ForConditionalGeneration'], model_type: 'blip-2', num_query_tokens: 32,
  initializer_factor: 1.0, initializer_range: 0.02, torch_dtype: 'float32', use_decoder_only_language_model: false,
  image_token_index: 32100,
  qformer_config: { model_type: 'blip_2_qformer', cross_attention_frequency: 2, encoder_hidden_size: 1408 },
  text_config: {
    model_type: 't5', _name_or_path: 'google/flan-t5-xl', architectures: ['T5ForConditionalGeneration'],
    d_model: 2048, d_kv: 64, d_ff: 5120, num_heads: 32, num_layers: 24, num_decoder_layers: 24, vocab_size: 32128,
    relative_attention_num_buckets: 32, relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6,
    feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu', is_gated_act: true, tie_word_embeddings: false,
    bos_token_id: 1, decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0, n_positions: 512,
  },
  vision_config: { model_type: 'blip_2_vision_model' },
};

/** Writes the checkpoint unless it already exists (complete) in `dir`. Returns the folder. */
export function ensureRandomT5Checkpoint(dir: string, fixtureDir: string, log: (s: string) => void): string {
  return ensureRandomShards(dir, {
    tensors: blip2FlanT5XlTensors(),
    secondShardFrom: 'language_model.encoder.block.4.',
    config: CONFIG,
    generation: { bos_token_id: 1, decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0 },
    copyFrom: fixtureDir,
    copy: ['preprocessor_config.json'],
  }, log);
}
