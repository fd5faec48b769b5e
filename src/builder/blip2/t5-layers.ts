// Pieces shared by the T5 encoder and decoder graphs: relative position bias, attention without
// score scaling, the (gated) feed-forward. Norms are RMS norms (layers.ts rmsNormResidual).
import { DT } from '../../onnx/graph-builder.ts';
import type { Ctx } from '../onnx/layers.ts';
import { type KvPast, cachedKeyValues, dimOf, gelu, linear, multiHeadAttention, param } from '../onnx/layers.ts';
import { T5, T5_ACTIVATIONS, type T5Spec } from './t5-spec.ts';

/**
 * HF T5Attention._relative_position_bucket for one relative position (key − query), with torch's
 * float32 arithmetic for the logarithmic buckets (a truncation: a rounding difference at a bucket
 * edge would change the bucket).
 */
export function relativePositionBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  const f = Math.fround;
  let buckets = numBuckets;
  let bucket = 0;
  let n: number;
  if (bidirectional) {
    buckets = Math.floor(buckets / 2);
    if (relative > 0) bucket += buckets;
    n = Math.abs(relative);
  } else {
    n = -Math.min(relative, 0);
  }
  const maxExact = Math.floor(buckets / 2);
  if (n < maxExact) return bucket + n;
  const ratio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (buckets - maxExact)));
  return bucket + Math.min(large, buckets - 1);
}

/** Relative positions beyond ±reach all fall in the last bucket, so a table over [−reach, reach] is exact. */
export function bucketReach(s: Pick<T5Spec, 'buckets' | 'maxDistance'>): number {
  return Math.max(s.maxDistance, s.buckets);
}

/**
 * The additive attention bias [1, heads, Tq, Tk] of one stack, computed in the graph from the
 * positions (layer 0's table, reused by every layer as HF does):
 *   rel = k − q ─Clip(±R)+R─ Gather(bucket table) ─ Gather(relative_attention_bias) [Tq,Tk,h] ─ Transpose ─ Unsqueeze ─▶
 *   decoder: + Gather(causal table: −∞ where the key is after the query)
 * `q`: int64 scalars, position of the first query (the cache length in the decoder) and the query
 * count; `keys`: int64 scalar, the key count (past + new in the decoder).
 */
export function relativePositionBias(ctx: Ctx, s: T5Spec, stack: 'encoder' | 'decoder', q: { start: string; length: string }, keys: string): string {
  const { g } = ctx;
  const n = `/${stack}/relative_position`;
  const bidirectional = stack === 'encoder';
  const reach = bucketReach(s);
  const rels = Array.from({ length: 2 * reach + 1 }, (_, i) => i - reach);
  const table = g.tensor(`${n}/bucket_table`, DT.INT64, bytesOf(new BigInt64Array(rels.map((r) => BigInt(relativePositionBucket(r, bidirectional, s.buckets, s.maxDistance))))), [rels.length]);
  const one = g.ints([1], []);
  const qEnd = g.op('Add', [q.start, q.length], { name: `${n}/query_end/Add` });
  const qPos = g.op('Range', [q.start, qEnd, one], { name: `${n}/query/Range` });
  const kPos = g.op('Range', [g.ints([0], []), keys, one], { name: `${n}/key/Range` });
  const rel = g.op('Sub', [
    g.op('Unsqueeze', [kPos, g.ints([0])], { name: `${n}/key/Unsqueeze` }),
    g.op('Unsqueeze', [qPos, g.ints([1])], { name: `${n}/query/Unsqueeze` }),
  ], { name: `${n}/Sub` });
  const clipped = g.op('Max', [g.op('Min', [rel, g.ints([reach], [])], { name: `${n}/Min` }), g.ints([-reach], [])], { name: `${n}/Max` });
  const index = g.op('Add', [clipped, g.ints([reach], [])], { name: `${n}/index/Add` });
  const bucket = g.op('Gather', [table, index], { name: `${n}/bucket/Gather`, attrs: { axis: 0 } });
  const weight = param(ctx, `${T5}${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`);
  const values = g.op('Gather', [weight, bucket], { name: `${n}/bias/Gather`, attrs: { axis: 0 } });
  const perHead = g.op('Transpose', [values], { name: `${n}/Transpose`, attrs: { perm: [2, 0, 1] } });
  const bias = g.op('Unsqueeze', [perHead, g.ints([0])], { name: `${n}/Unsqueeze` });
  if (bidirectional) return bias;
  const causal = g.tensor(`${n}/causal_table`, DT.FLOAT, bytesOf(Float32Array.from(rels, (r) => (r > 0 ? -Infinity : 0))), [rels.length]);
  const mask = g.op('Gather', [causal, index], { name: `${n}/causal/Gather`, attrs: { axis: 0 } });
  return g.op('Add', [bias, mask], { name: `${n}/causal/Add` });
}

/** Sequence positions of a [B, T, ...] value: start 0, length T (encoder self-attention). */
export function wholeSequence(ctx: Ctx, x: string, name: string): { start: string; length: string } {
  return { start: ctx.g.ints([0], []), length: dimOf(ctx, x, 1, name) };
}

/**
 * T5 attention: no biases and no 1/sqrt(d_kv) scaling (folded into T5's initialisation).
 *   x ─q─┐
 *   kv ─k,v (or given [B,h,S,d] keys/values)─ MultiHeadAttention(scale 1, position bias) ─ o ─▶
 * With `past` (a self-attention cache) the keys are past + new and the new k, v are returned too.
 */
export function t5Attention(
  ctx: Ctx, s: T5Spec, x: string, prefix: string, name: string,
  o: { bias?: string; past?: KvPast; keyValues?: { key: string; value: string } },
): { out: string; newKey?: string; newValue?: string } {
  const q = linear(ctx, x, `${prefix}q`, `${name}/q`);
  const k = o.keyValues?.key ?? linear(ctx, x, `${prefix}k`, `${name}/k`);
  const v = o.keyValues?.value ?? linear(ctx, x, `${prefix}v`, `${name}/v`);
  const all = o.past ? cachedKeyValues(ctx, o.past, k, v, `${name}/cache`) : { key: k, value: v };
  const a = multiHeadAttention(ctx, q, all.key, all.value, { heads: s.heads, scale: 1, bias: o.bias, name });
  return { out: linear(ctx, a, `${prefix}o`, `${name}/o`), ...(o.past ? { newKey: k, newValue: v } : {}) };
}

/** Keys or values for cross-attention, computed once: [B,S,h·d] → [B,h,S,d] (the layout MultiHeadAttention takes as is). */
export function headsFirst(ctx: Ctx, s: T5Spec, x: string, name: string): string {
  const { g } = ctx;
  const split = g.op('Reshape', [x, g.ints([0, 0, s.heads, s.headDim])], { name: `${name}/Reshape` });
  return g.op('Transpose', [split], { name: `${name}/Transpose`, attrs: { perm: [0, 2, 1, 3] } });
}

/**
 * T5DenseGatedActDense: wo(act(wi_0·x) ⊙ (wi_1·x)); or T5DenseActDense: wo(act(wi·x)).
 */
export function t5FeedForward(ctx: Ctx, s: T5Spec, x: string, prefix: string, name: string): string {
  const { g } = ctx;
  const act = (v: string) => {
    switch (T5_ACTIVATIONS[s.act]) {
      case 'tanh': return g.op('FastGelu', [v], { name: `${name}/act/FastGelu`, domain: 'com.microsoft' });
      case 'erf': return gelu(ctx, v, `${name}/act`);
      case 'relu': return g.op('Relu', [v], { name: `${name}/act/Relu` });
    }
  };
  const hidden = s.gated
    ? g.op('Mul', [act(linear(ctx, x, `${prefix}wi_0`, `${name}/wi_0`)), linear(ctx, x, `${prefix}wi_1`, `${name}/wi_1`)], { name: `${name}/gate/Mul` })
    : act(linear(ctx, x, `${prefix}wi`, `${name}/wi`));
  return linear(ctx, hidden, `${prefix}wo`, `${name}/wo`);
}

const bytesOf = (a: BigInt64Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
