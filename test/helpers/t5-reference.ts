// A plain-TypeScript T5 forward pass in float64, written from HF modeling_t5.py's definitions (not
// from our builder), to check converted graphs of shapes the HF fixture does not cover. Weights
// come through a `WeightView` so a quantized model is checked against the weights it really holds.
import { f16ToF32 } from '../../src/builder/safetensors.ts';
import { toF16 } from '../../src/onnx/float16.ts';
import { type BlockQuantConfig, dequantizeBlocks, quantizeBlocks } from '../../src/builder/onnx/quantize.ts';
import type { Tensors } from './t5-checkpoint.ts';

export interface RefShape {
  dModel: number; heads: number; dKv: number; encoderLayers: number; decoderLayers: number;
  buckets: number; maxDistance: number; act: 'gelu_new' | 'gelu' | 'relu'; gated: boolean; tied: boolean; eps: number;
}

/** How each kind of weight is stored: projections and the head may be block-quantized, the token table float16. */
export interface WeightView {
  linear?: BlockQuantConfig;
  /** Projections whose module path (the tensor name without ".weight") ends with one of `suffixes` use `policy`. */
  overrides?: { suffixes: readonly string[]; policy: BlockQuantConfig };
  head?: BlockQuantConfig;
  embedFp16?: boolean;
}

type Mat = { rows: number; cols: number; v: Float64Array };

export class T5Reference {
  private readonly cache = new Map<string, Float32Array>();

  constructor(private readonly t: Tensors, private readonly s: RefShape, private readonly view: WeightView = {}) {}

  /** Encoder output (final RMS norm applied) for [prefix rows; embedded ids]. */
  encode(prefix: Float32Array, ids: readonly number[]): Mat {
    const d = this.s.dModel;
    const q = prefix.length / d;
    const x = mat(q + ids.length, d);
    x.v.set(prefix);
    const emb = this.embed(ids);
    x.v.set(emb.v, q * d);
    const bias = this.positionBias('encoder');
    for (let i = 0; i < this.s.encoderLayers; i++) {
      const p = `language_model.encoder.block.${i}.layer.`;
      addInto(x, this.attention(this.rms(x, `${p}0.layer_norm`), null, `${p}0.SelfAttention`, bias));
      addInto(x, this.ffn(this.rms(x, `${p}1.layer_norm`), `${p}1.DenseReluDense`));
    }
    return this.rms(x, 'language_model.encoder.final_layer_norm');
  }

  /** Next-token logits after the decoder ids (the start token first), recomputed from scratch. */
  decodeLast(enc: Mat, ids: readonly number[]): Float64Array {
    const x = this.embed(ids);
    const bias = this.positionBias('decoder');
    for (let i = 0; i < this.s.decoderLayers; i++) {
      const p = `language_model.decoder.block.${i}.layer.`;
      addInto(x, this.attention(this.rms(x, `${p}0.layer_norm`), null, `${p}0.SelfAttention`, bias));
      addInto(x, this.attention(this.rms(x, `${p}1.layer_norm`), enc, `${p}1.EncDecAttention`, null));
      addInto(x, this.ffn(this.rms(x, `${p}2.layer_norm`), `${p}2.DenseReluDense`));
    }
    const last = mat(1, this.s.dModel);
    last.v.set(x.v.subarray((x.rows - 1) * x.cols));
    const h = this.rms(last, 'language_model.decoder.final_layer_norm');
    if (this.s.tied) for (let k = 0; k < h.v.length; k++) h.v[k] *= this.s.dModel ** -0.5;
    const head = this.s.tied ? 'language_model.shared.weight' : 'language_model.lm_head.weight';
    return matmulT(h, this.weight(head, 'head'), this.t.get(head)!.shape[0]).v;
  }

  private embed(ids: readonly number[]): Mat {
    const table = this.weight('language_model.shared.weight', 'embed');
    const d = this.s.dModel;
    const out = mat(ids.length, d);
    ids.forEach((id, r) => { for (let c = 0; c < d; c++) out.v[r * d + c] = table[id * d + c]; });
    return out;
  }

  private rms(x: Mat, prefix: string): Mat {
    const w = this.weight(`${prefix}.weight`, 'param');
    const out = mat(x.rows, x.cols);
    for (let r = 0; r < x.rows; r++) {
      let ss = 0;
      for (let c = 0; c < x.cols; c++) ss += x.v[r * x.cols + c] ** 2;
      const inv = 1 / Math.sqrt(ss / x.cols + this.s.eps);
      for (let c = 0; c < x.cols; c++) out.v[r * x.cols + c] = w[c] * x.v[r * x.cols + c] * inv;
    }
    return out;
  }

  /** Multi-head attention without score scaling; keys/values from `kv` (cross) or x (self). */
  private attention(x: Mat, kv: Mat | null, prefix: string, bias: ((h: number, i: number, j: number) => number) | null): Mat {
    const inner = this.s.heads * this.s.dKv;
    const src = kv ?? x;
    const q = matmulT(x, this.weight(`${prefix}.q.weight`, 'linear'), inner);
    const k = matmulT(src, this.weight(`${prefix}.k.weight`, 'linear'), inner);
    const v = matmulT(src, this.weight(`${prefix}.v.weight`, 'linear'), inner);
    const ctx = mat(x.rows, inner);
    for (let h = 0; h < this.s.heads; h++) {
      for (let i = 0; i < x.rows; i++) {
        const scores = new Float64Array(src.rows);
        for (let j = 0; j < src.rows; j++) {
          let dot = 0;
          for (let c = 0; c < this.s.dKv; c++) dot += q.v[i * inner + h * this.s.dKv + c] * k.v[j * inner + h * this.s.dKv + c];
          scores[j] = dot + (bias ? bias(h, i, j) : 0);
        }
        const max = Math.max(...scores);
        let z = 0;
        for (let j = 0; j < scores.length; j++) z += (scores[j] = Math.exp(scores[j] - max));
        for (let c = 0; c < this.s.dKv; c++) {
          let acc = 0;
          for (let j = 0; j < src.rows; j++) acc += (scores[j] / z) * v.v[j * inner + h * this.s.dKv + c];
          ctx.v[i * inner + h * this.s.dKv + c] = acc;
        }
      }
    }
    return matmulT(ctx, this.weight(`${prefix}.o.weight`, 'linear'), this.s.dModel);
  }

  private ffn(x: Mat, prefix: string): Mat {
    const ff = this.t.get(`${prefix}.${this.s.gated ? 'wi_0' : 'wi'}.weight`)!.shape[0];
    const a = matmulT(x, this.weight(`${prefix}.${this.s.gated ? 'wi_0' : 'wi'}.weight`, 'linear'), ff);
    for (let k = 0; k < a.v.length; k++) a.v[k] = activation(a.v[k], this.s.act);
    if (this.s.gated) {
      const lin = matmulT(x, this.weight(`${prefix}.wi_1.weight`, 'linear'), ff);
      for (let k = 0; k < a.v.length; k++) a.v[k] *= lin.v[k];
    }
    return matmulT(a, this.weight(`${prefix}.wo.weight`, 'linear'), this.s.dModel);
  }

  /** HF compute_bias: table[bucket(key − query)] per head; causal (−∞ after the query) in the decoder. */
  private positionBias(stack: 'encoder' | 'decoder'): (h: number, i: number, j: number) => number {
    const table = this.weight(`language_model.${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`, 'param');
    const decoder = stack === 'decoder';
    return (h, i, j) => {
      const rel = j - i;
      if (decoder && rel > 0) return -Infinity;
      return table[bucket(rel, !decoder, this.s.buckets, this.s.maxDistance) * this.s.heads + h];
    };
  }

  private weight(name: string, use: 'linear' | 'head' | 'embed' | 'param'): Float32Array {
    const key = `${use}:${name}`;
    let w = this.cache.get(key);
    if (!w) {
      const src = this.t.get(name);
      if (!src) throw new Error(`reference: no tensor ${name}`);
      const o = this.view.overrides;
      const overridden = use === 'linear' && o && o.suffixes.some((end) => name.endsWith(`.${end}.weight`));
      const q = overridden ? o!.policy : use === 'linear' ? this.view.linear : use === 'head' ? this.view.head : undefined;
      if (q) {
        const [n, k] = src.shape;
        w = dequantizeBlocks(quantizeBlocks(src.data, n, k, q), q);
      } else if (use === 'embed' && this.view.embedFp16) {
        w = Float32Array.from(toF16(src.data), f16ToF32);
      } else {
        w = src.data;
      }
      this.cache.set(key, w);
    }
    return w;
  }
}

/** HF T5Attention._relative_position_bucket, in doubles. */
export function bucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let ret = 0;
  let n = numBuckets;
  let rp = relative;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rp > 0) ret += n;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return ret + rp;
  const large = maxExact + Math.trunc((Math.log(rp / maxExact) / Math.log(maxDistance / maxExact)) * (n - maxExact));
  return ret + Math.min(large, n - 1);
}

function activation(x: number, act: RefShape['act']): number {
  if (act === 'relu') return Math.max(0, x);
  if (act === 'gelu') return 0.5 * x * (1 + erf(x / Math.SQRT2));
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** erf to ~1e-15 (Taylor series near 0, continued fraction beyond). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = ax;
    let term = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz), accurate for |x| ≥ 3.
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + (n / 2) / f;
  const erfc = Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * f);
  return Math.sign(x) * (1 - erfc);
}

function mat(rows: number, cols: number): Mat {
  return { rows, cols, v: new Float64Array(rows * cols) };
}

/** x [rows × in] · Wᵀ with W [out × in] (HF Linear layout). */
function matmulT(x: Mat, w: Float32Array, out: number): Mat {
  const r = mat(x.rows, out);
  for (let i = 0; i < x.rows; i++) {
    for (let o = 0; o < out; o++) {
      let acc = 0;
      for (let k = 0; k < x.cols; k++) acc += x.v[i * x.cols + k] * w[o * x.cols + k];
      r.v[i * out + o] = acc;
    }
  }
  return r;
}

function addInto(x: Mat, y: Mat): void {
  for (let k = 0; k < x.v.length; k++) x.v[k] += y.v[k];
}
