// Small BLIP-2 checkpoints with a T5 language model of any shape, for tests: the vision encoder and
// Q-Former of the flan_t5 fixture (so their parity is already known) plus a seeded random T5 and
// language projection. Also returns the T5 tensors, for the plain-TypeScript reference (t5-reference.ts).
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint } from '../../src/builder/safetensors.ts';
import { createRng } from '../../src/runtime/generation/rng.ts';
import { fixturePath } from './fixtures.ts';
import { type TensorSpec, writeSafetensors } from './safetensors-writer.ts';

export interface T5Shape {
  dModel: number; dKv: number; heads: number; dFf: number;
  encoderLayers: number; decoderLayers: number; vocab: number;
  buckets: number; maxDistance: number;
  /** config dense_act_fn (written as given; undefined leaves it out so feed_forward_proj decides). */
  act?: string;
  feedForwardProj: string;
  gated: boolean;
  tied: boolean;
}

export type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

export async function writeT5Checkpoint(dir: string, s: T5Shape, seed: number, edit?: (config: any, tensors: Tensors) => void): Promise<Tensors> {
  await mkdir(dir, { recursive: true });
  const rng = createRng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
  const lm: Tensors = new Map();
  const put = (name: string, shape: number[], f: () => number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = f();
    lm.set(name, { shape, data });
  };
  const linear = (name: string, out: number, inp: number, gain = 1) => put(`${name}.weight`, [out, inp], () => (gain * normal()) / Math.sqrt(inp));
  const norm = (name: string) => put(`${name}.weight`, [s.dModel], () => 1 + 0.1 * normal());
  const inner = s.heads * s.dKv;
  const L = 'language_model.';
  const fixture = await Checkpoint.open(fixturePath('flan_t5'));
  const qHidden = fixture.info('language_projection.weight').shape[1];
  linear('language_projection', s.dModel, qHidden);
  put('language_projection.bias', [s.dModel], () => 0.1 * normal());
  put(`${L}shared.weight`, [s.vocab, s.dModel], normal);
  for (const stack of ['encoder', 'decoder'] as const) {
    const layers = stack === 'encoder' ? s.encoderLayers : s.decoderLayers;
    for (let i = 0; i < layers; i++) {
      const p = `${L}${stack}.block.${i}.layer.`;
      const attn = (prefix: string) => {
        for (const w of ['q', 'k', 'v']) linear(`${prefix}.${w}`, inner, s.dModel);
        linear(`${prefix}.o`, s.dModel, inner);
      };
      attn(`${p}0.SelfAttention`);
      norm(`${p}0.layer_norm`);
      if (i === 0) put(`${p}0.SelfAttention.relative_attention_bias.weight`, [s.buckets, s.heads], normal);
      let ff = 1;
      if (stack === 'decoder') {
        attn(`${p}1.EncDecAttention`);
        norm(`${p}1.layer_norm`);
        ff = 2;
      }
      const d = `${p}${ff}.DenseReluDense`;
      if (s.gated) {
        linear(`${d}.wi_0`, s.dFf, s.dModel);
        linear(`${d}.wi_1`, s.dFf, s.dModel);
      } else {
        linear(`${d}.wi`, s.dFf, s.dModel);
      }
      linear(`${d}.wo`, s.dModel, s.dFf);
      norm(`${p}${ff}.layer_norm`);
    }
    norm(`${L}${stack}.final_layer_norm`);
  }
  if (!s.tied) put(`${L}lm_head.weight`, [s.vocab, s.dModel], normal);

  const config = JSON.parse(await readFile(fixturePath('flan_t5/config.json'), 'utf8'));
  const t = config.text_config;
  Object.assign(t, {
    d_model: s.dModel, d_kv: s.dKv, num_heads: s.heads, d_ff: s.dFf, num_layers: s.encoderLayers,
    num_decoder_layers: s.decoderLayers, vocab_size: s.vocab, relative_attention_num_buckets: s.buckets,
    relative_attention_max_distance: s.maxDistance, feed_forward_proj: s.feedForwardProj, is_gated_act: s.gated,
    tie_word_embeddings: s.tied,
  });
  if (s.act === undefined) delete t.dense_act_fn;
  else t.dense_act_fn = s.act;
  edit?.(config, lm);

  const tensors: Record<string, TensorSpec> = {};
  for (const name of fixture.names()) {
    if (name.startsWith(L) || name.startsWith('language_projection.')) continue;
    tensors[name] = { dtype: 'F32', shape: fixture.info(name).shape, data: fixture.readFloat32(name) };
  }
  await fixture.close();
  for (const [name, v] of lm) tensors[name] = { dtype: 'F32', shape: v.shape, data: v.data };
  await writeSafetensors(join(dir, 'model.safetensors'), tensors);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of ['generation_config.json', 'preprocessor_config.json']) await cp(fixturePath(`flan_t5/${f}`), join(dir, f));
  return lm;
}
