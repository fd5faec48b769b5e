// Writes a full-size random-weight BLIP-2 checkpoint with the real Salesforce/blip2-opt-2.7b
// tensor names and shapes (F16, two shards + index, as published), streamed tensor by tensor.
// Values are random but shaped like trained weights (LayerNorm ≈ 1, small projections) so
// activations stay finite through 39 + 12 + 32 layers. For benchmarks only; never committed.
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, writeSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface TensorDef { name: string; shape: number[]; kind: 'norm_w' | 'bias' | 'weight' | 'embed' }

export const OPT_27B = {
  vision: { hidden: 1408, layers: 39, mlp: 6144, patch: 14, tokens: 257 },
  qformer: { hidden: 768, layers: 12, intermediate: 3072, queries: 32, freq: 2 },
  opt: { hidden: 2560, layers: 32, ffn: 10240, vocab: 50272, positions: 2050 },
};

const linear = (t: TensorDef[], p: string, out: number, inp: number, bias = true) => {
  t.push({ name: `${p}.weight`, shape: [out, inp], kind: 'weight' });
  if (bias) t.push({ name: `${p}.bias`, shape: [out], kind: 'bias' });
};
const layerNorm = (t: TensorDef[], p: string, d: number) => {
  t.push({ name: `${p}.weight`, shape: [d], kind: 'norm_w' }, { name: `${p}.bias`, shape: [d], kind: 'bias' });
};

/** The ViT-g and the Q-Former, the same in every BLIP-2 captioning checkpoint. */
export function blip2VisionQFormerTensors(): TensorDef[] {
  const t: TensorDef[] = [];
  const lin = (p: string, out: number, inp: number, bias = true) => linear(t, p, out, inp, bias);
  const ln = (p: string, d: number) => layerNorm(t, p, d);
  const { vision: v, qformer: q } = OPT_27B;
  t.push({ name: 'vision_model.embeddings.class_embedding', shape: [1, 1, v.hidden], kind: 'embed' });
  t.push({ name: 'vision_model.embeddings.patch_embedding.weight', shape: [v.hidden, 3, v.patch, v.patch], kind: 'weight' });
  t.push({ name: 'vision_model.embeddings.patch_embedding.bias', shape: [v.hidden], kind: 'bias' });
  t.push({ name: 'vision_model.embeddings.position_embedding', shape: [1, v.tokens, v.hidden], kind: 'embed' });
  for (let i = 0; i < v.layers; i++) {
    const p = `vision_model.encoder.layers.${i}`;
    ln(`${p}.layer_norm1`, v.hidden);
    lin(`${p}.self_attn.qkv`, 3 * v.hidden, v.hidden);
    lin(`${p}.self_attn.projection`, v.hidden, v.hidden);
    ln(`${p}.layer_norm2`, v.hidden);
    lin(`${p}.mlp.fc1`, v.mlp, v.hidden);
    lin(`${p}.mlp.fc2`, v.hidden, v.mlp);
  }
  ln('vision_model.post_layernorm', v.hidden);
  t.push({ name: 'query_tokens', shape: [1, q.queries, q.hidden], kind: 'embed' });
  ln('qformer.layernorm', q.hidden);
  for (let i = 0; i < q.layers; i++) {
    const p = `qformer.encoder.layer.${i}`;
    for (const a of ['query', 'key', 'value']) lin(`${p}.attention.attention.${a}`, q.hidden, q.hidden);
    lin(`${p}.attention.output.dense`, q.hidden, q.hidden);
    ln(`${p}.attention.output.LayerNorm`, q.hidden);
    if (i % q.freq === 0) {
      lin(`${p}.crossattention.attention.query`, q.hidden, q.hidden);
      lin(`${p}.crossattention.attention.key`, q.hidden, v.hidden);
      lin(`${p}.crossattention.attention.value`, q.hidden, v.hidden);
      lin(`${p}.crossattention.output.dense`, q.hidden, q.hidden);
      ln(`${p}.crossattention.output.LayerNorm`, q.hidden);
    }
    // HF's captioning Q-Former has only the query feed-forward (the text one lives in the ITM model).
    lin(`${p}.intermediate_query.dense`, q.intermediate, q.hidden);
    lin(`${p}.output_query.dense`, q.hidden, q.intermediate);
    ln(`${p}.output_query.LayerNorm`, q.hidden);
  }
  return t;
}

export function blip2Opt27bTensors(): TensorDef[] {
  const t = blip2VisionQFormerTensors();
  const lin = (p: string, out: number, inp: number, bias = true) => linear(t, p, out, inp, bias);
  const ln = (p: string, d: number) => layerNorm(t, p, d);
  const { qformer: q, opt: o } = OPT_27B;
  lin('language_projection', o.hidden, q.hidden);
  const d = 'language_model.model.decoder';
  t.push({ name: `${d}.embed_tokens.weight`, shape: [o.vocab, o.hidden], kind: 'embed' });
  t.push({ name: `${d}.embed_positions.weight`, shape: [o.positions, o.hidden], kind: 'embed' });
  for (let i = 0; i < o.layers; i++) {
    const p = `${d}.layers.${i}`;
    for (const a of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(`${p}.self_attn.${a}`, o.hidden, o.hidden);
    ln(`${p}.self_attn_layer_norm`, o.hidden);
    lin(`${p}.fc1`, o.ffn, o.hidden);
    lin(`${p}.fc2`, o.hidden, o.ffn);
    ln(`${p}.final_layer_norm`, o.hidden);
  }
  ln(`${d}.final_layer_norm`, o.hidden);
  // lm_head.weight is tied to embed_tokens and not stored (safetensors drops shared tensors).
  return t;
}

const CONFIG = {
  architectures: ['Blip2ForConditionalGeneration'], model_type: 'blip-2', num_query_tokens: 32,
  initializer_factor: 1.0, initializer_range: 0.02, torch_dtype: 'float16', use_decoder_only_language_model: true,
  image_token_index: 50265,
  qformer_config: { model_type: 'blip_2_qformer', cross_attention_frequency: 2, encoder_hidden_size: 1408 },
  text_config: {
    model_type: 'opt', _name_or_path: 'facebook/opt-2.7b', activation_function: 'relu', bos_token_id: 2, eos_token_id: 50118,
    pad_token_id: 1, ffn_dim: 10240, hidden_size: 2560, num_attention_heads: 32, num_hidden_layers: 32,
    word_embed_proj_dim: 2560, do_layer_norm_before: true, vocab_size: 50272, max_position_embeddings: 2048,
  },
  vision_config: { model_type: 'blip_2_vision_model' },
};

/** F16 bit patterns: |x| ≈ 2^(e-15) with e in [lo, hi], random mantissa and sign. */
function fillRandomF16(out: Uint16Array, kind: TensorDef['kind'], state: { s: number }): void {
  let s = state.s;
  const [lo, hi] = kind === 'weight' ? [6, 9] : kind === 'bias' ? [4, 8] : [8, 12]; // weights ~0.0005–0.008
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    const r = s >>> 0;
    if (kind === 'norm_w') { out[i] = 0x3c00 | (r & 0x7f); continue; } // 1.0 + tiny
    const exp = lo + (r % (hi - lo + 1));
    out[i] = ((r >>> 16) & 0x8000) | (exp << 10) | ((r >>> 6) & 0x3ff);
  }
  state.s = s;
}

const bytesOf = (d: TensorDef) => d.shape.reduce((a, b) => a * b, 1) * 2;

/** Writes the checkpoint unless it already exists (complete) in `dir`. Returns the folder. */
export function ensureRandomCheckpoint(dir: string, tokenizerFrom: string, log: (s: string) => void): string {
  return ensureRandomShards(dir, {
    tensors: blip2Opt27bTensors(),
    secondShardFrom: 'language_model.model.decoder.layers.8.',
    config: CONFIG,
    generation: { bos_token_id: 2, eos_token_id: 50118, pad_token_id: 1 },
    copyFrom: tokenizerFrom,
    copy: ['preprocessor_config.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'],
  }, log);
}

export interface RandomCheckpoint {
  tensors: TensorDef[];
  /** The first tensor of the second shard (name prefix). */
  secondShardFrom: string;
  config: unknown;
  generation: unknown;
  /** Small files copied from a fixture folder. */
  copyFrom: string;
  copy: string[];
}

/** Writes a random F16 checkpoint in two shards + index unless `dir` already holds a complete one. */
export function ensureRandomShards(dir: string, spec: RandomCheckpoint, log: (s: string) => void): string {
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return dir;
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const defs = spec.tensors;
  const half = defs.findIndex((d) => d.name.startsWith(spec.secondShardFrom));
  const shards = [defs.slice(0, half), defs.slice(half)];
  const weightMap: Record<string, string> = {};
  const state = { s: 0x12345678 };
  let total = 0;
  shards.forEach((list, si) => {
    const file = `model-0000${si + 1}-of-0000${shards.length}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let off = 0;
    for (const d of list) {
      header[d.name] = { dtype: 'F16', shape: d.shape, data_offsets: [off, off + bytesOf(d)] };
      off += bytesOf(d);
      weightMap[d.name] = file;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const fd = openSync(join(tmp, file), 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json));
    for (const d of list) {
      const data = new Uint16Array(bytesOf(d) / 2);
      fillRandomF16(data, d.kind, state);
      const bytes = new Uint8Array(data.buffer);
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
      total += bytes.length;
    }
    closeSync(fd);
    log(`  wrote ${file} (${(off / 2 ** 30).toFixed(2)} GiB)`);
  });
  writeFileSync(join(tmp, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 1));
  writeFileSync(join(tmp, 'config.json'), JSON.stringify(spec.config, null, 2));
  writeFileSync(join(tmp, 'generation_config.json'), JSON.stringify(spec.generation));
  for (const f of spec.copy) copyFileSync(join(spec.copyFrom, f), join(tmp, f));
  renameSync(tmp, dir);
  return dir;
}

export function parameterCount(): number {
  return blip2Opt27bTensors().reduce((a, d) => a + d.shape.reduce((x, y) => x * y, 1), 0);
}
