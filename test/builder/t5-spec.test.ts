// Reading a T5 language model's sizes and options from a BLIP-2 checkpoint (tensor shapes first,
// config.json for the rest, HF T5Config's rules), refusing what we do not build, and T5's
// relative position buckets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { relativePositionBucket } from '../../src/builder/blip2/t5-layers.ts';
import { t5Spec } from '../../src/builder/blip2/t5-spec.ts';
import { parseConfig } from '../../src/builder/blip2/spec.ts';
import type { TensorShapes } from '../../src/builder/onnx/layers.ts';
import { fixturePath, readJson } from '../helpers/fixtures.ts';
import { bucket } from '../helpers/t5-reference.ts';

function fixtureShapes(edit?: (shapes: Map<string, number[]>) => void): TensorShapes {
  const buf = readFileSync(fixturePath('flan_t5/model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[] }>;
  const shapes = new Map(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([k, v]) => [k, v.shape]));
  edit?.(shapes);
  return {
    has: (name) => shapes.has(name),
    shape: (name) => {
      const s = shapes.get(name);
      if (!s) throw Object.assign(new Error(`tensor "${name}" is not in the checkpoint`), { code: 'tensor_missing' });
      return s;
    },
  };
}

function specWith(text: Record<string, unknown>, edit?: (shapes: Map<string, number[]>) => void) {
  const cfg = JSON.parse(readFileSync(fixturePath('flan_t5/config.json'), 'utf8'));
  Object.assign(cfg.text_config, text);
  for (const [k, v] of Object.entries(text)) if (v === undefined) delete cfg.text_config[k];
  return t5Spec(fixtureShapes(edit), parseConfig(cfg, 'config.json'), 'config.json');
}

const L = 'language_model.';

describe('T5 spec', () => {
  it('reads the fixture: sizes from shapes, options from the config', () => {
    const s = specWith({});
    assert.deepEqual(
      { hidden: s.hidden, heads: s.heads, headDim: s.headDim, innerDim: s.innerDim, layers: s.layers, encoderLayers: s.encoderLayers, ffn: s.ffn, vocabRows: s.vocabRows },
      (({ d_model, num_heads, d_kv, num_layers, num_decoder_layers, d_ff, vocab_size }) => ({
        hidden: d_model, heads: num_heads, headDim: d_kv, innerDim: num_heads * d_kv, layers: num_decoder_layers, encoderLayers: num_layers, ffn: d_ff, vocabRows: vocab_size,
      }))(readJson('flan_t5/config.full.json').text_config),
    );
    assert.deepEqual([s.act, s.gated, s.tiedHead, s.buckets, s.maxDistance, s.eps, s.decoderStart, s.eos, s.pad], ['gelu_new', true, false, 32, 128, 1e-6, 0, [1], 0]);
  });

  it('follows HF T5Config: dense_act_fn wins over feed_forward_proj, which alone maps "gated-gelu" to gelu_new', () => {
    assert.equal(specWith({ dense_act_fn: 'gelu' }).act, 'gelu'); // BLIP-2 Flan-T5's exact GELU
    assert.equal(specWith({ dense_act_fn: undefined, feed_forward_proj: 'gated-gelu' }).act, 'gelu_new');
    assert.equal(specWith({ dense_act_fn: undefined, is_gated_act: undefined, feed_forward_proj: 'gated-relu' }).act, 'relu');
  });

  it('another activation is refused, naming it', () => {
    assert.throws(() => specWith({ dense_act_fn: 'silu' }), (e: any) => e.code === 'checkpoint_unsupported' && /"silu"/.test(e.message) && /gelu_new/.test(e.message));
    assert.throws(() => specWith({ dense_act_fn: undefined, feed_forward_proj: 'gated-silu' }), (e: any) => e.code === 'checkpoint_unsupported' && /"silu"/.test(e.message));
  });

  it('a config that contradicts the tensors is refused', () => {
    assert.throws(() => specWith({ num_heads: 8 }), (e: any) => e.code === 'checkpoint_invalid' && /8 heads/.test(e.message));
    assert.throws(() => specWith({ d_kv: 16 }), (e: any) => e.code === 'checkpoint_invalid' && /d_kv 16/.test(e.message));
    assert.throws(() => specWith({ is_gated_act: false }), (e: any) => e.code === 'checkpoint_invalid' && /gated/.test(e.message));
    assert.throws(() => specWith({ relative_attention_max_distance: 16 }), (e: any) => e.code === 'checkpoint_invalid' && /max_distance 16/.test(e.message));
  });

  it('a relative-attention table in a later block (UMT5) is refused', () => {
    assert.throws(() => specWith({}, (m) => m.set(`${L}encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight`, [32, 4])),
      (e: any) => e.code === 'checkpoint_unsupported' && /block 1/.test(e.message));
  });

  it('an untied head must be in the file; a tied one is not needed', () => {
    assert.throws(() => specWith({}, (m) => m.delete(`${L}lm_head.weight`)), (e: any) => e.code === 'tensor_missing' && /lm_head/.test(e.message));
    assert.equal(specWith({ tie_word_embeddings: true }, (m) => m.delete(`${L}lm_head.weight`)).tiedHead, true);
    assert.equal(specWith({ tie_word_embeddings: undefined }).tiedHead, true); // T5Config's default
  });

  it('heads and d_kv come from the shapes, so inner width may differ from d_model', () => {
    const s = specWith({ num_heads: undefined, d_kv: undefined }, (m) => {
      for (const [k, v] of m) {
        if (/SelfAttention\.[qkv]\.weight$|EncDecAttention\.[qkv]\.weight$/.test(k)) m.set(k, [48, v[1]]);
        if (/Attention\.o\.weight$/.test(k)) m.set(k, [v[0], 48]);
        if (/relative_attention_bias/.test(k)) m.set(k, [32, 6]);
      }
    });
    assert.deepEqual([s.heads, s.headDim, s.innerDim, s.hidden], [6, 8, 48, 32]);
  });
});

describe('relative position buckets', () => {
  it('match HF for the released configuration', () => {
    // Bidirectional (encoder): 16 buckets per direction, 8 exact, log-spaced to 128.
    const enc = (r: number) => relativePositionBucket(r, true, 32, 128);
    assert.deepEqual([-1, 0, 1, 7, 8, 15, 16, 31, 32, 64, 127, 128, 500].map(enc), [1, 0, 17, 23, 24, 25, 26, 27, 28, 30, 31, 31, 31]);
    assert.deepEqual([-8, -16, -200].map(enc), [8, 10, 15]);
    // Unidirectional (decoder): only keys before the query, 32 buckets, 16 exact.
    const dec = (r: number) => relativePositionBucket(r, false, 32, 128);
    assert.deepEqual([5, 0, -1, -15, -16, -20, -32, -64, -127, -1000].map(dec), [0, 0, 1, 15, 16, 17, 21, 26, 31, 31]);
  });

  it('agree with a double-precision port of HF over every position and several configurations', () => {
    for (const [nb, md] of [[32, 128], [16, 12], [8, 16], [64, 256], [32, 20]]) {
      for (const bidirectional of [true, false]) {
        for (let r = -600; r <= 600; r++) assert.equal(relativePositionBucket(r, bidirectional, nb, md), bucket(r, bidirectional, nb, md), `${nb}/${md} ${bidirectional} ${r}`);
      }
    }
  });
});
