// Small make_* helpers that emit common transformer subgraphs with stable node names.
// Weights are asked for by their Hugging Face names through a recipe (weights.ts); Linear weights
// ([out, in] in HF) are transposed once at conversion so every projection is a plain MatMul.
import { DT, type GraphBuilder } from '../../onnx/graph-builder.ts';
import type { BlockQuantConfig } from './quantize.ts';
import { asIs, blockQuantized, float16, perChannelInt8, transposed, type Weights } from './weights.ts';

/** What a checkpoint's headers tell: which tensors exist and their shapes (no values). */
export interface TensorShapes {
  has(name: string): boolean;
  /** Throws a 'tensor_missing' error naming the tensor. */
  shape(name: string): number[];
}

export interface Ctx {
  g: GraphBuilder;
  src: TensorShapes;
  weights: Weights;
  /** Weight-only quantization for the projections of this graph; absent = float32. */
  quant?: QuantPolicy;
  /** Quantization of a language model's output head (tied heads stay shared in float32 without it). */
  headQuant?: QuantPolicy;
  /** Store token-embedding tables as float16 (looked up then cast to float32): half their memory. */
  embedFp16?: boolean;
  /** Projections whose HF module path ends with one of `suffixes` use `policy` instead of `quant`. */
  quantOverrides?: { suffixes: string[]; policy: QuantPolicy };
}

export interface QuantPolicy extends BlockQuantConfig {
  /** MatMulNBits accuracy_level: 0 = float activations, 4 = int8 activations (faster on CPU). */
  accuracyLevel: number;
  /**
   * The ONNX Runtime kernel: MatMulNBits (block-quantized weights; the default) or
   * DynamicQuantizeMatMul (bits 8, one scale per output channel, activations quantized per call:
   * the CPU's int8 dot-product units on large activations; blockSize and accuracyLevel unused).
   */
  kernel?: 'MatMulNBits' | 'DynamicQuantizeMatMul';
}

/** The [in, out] weight of an HF Linear, added once. */
export function linearWeight(ctx: Ctx, hfWeight: string): string {
  return ctx.weights.use(ctx.g, hfWeight, transposed)[0];
}

/** An HF tensor as stored (float32), added once. */
export function param(ctx: Ctx, hfName: string): string {
  return ctx.weights.use(ctx.g, hfName, asIs)[0];
}

/** A token-embedding table in float16, added once. */
export function halfTable(ctx: Ctx, hfName: string): string {
  return ctx.weights.use(ctx.g, hfName, float16)[0];
}

/**
 *   x ──MatMul(Wᵀ)──Add(b)──▶
 * `prefix` is the HF module path (prefix.weight, optional prefix.bias).
 */
export function linear(ctx: Ctx, x: string, prefix: string, name: string, opts: { bias?: boolean } = {}): string {
  const withBias = opts.bias ?? ctx.src.has(`${prefix}.bias`);
  const o = ctx.quantOverrides;
  const quant = o && ctx.quant && o.suffixes.some((end) => prefix.endsWith(`.${end}`)) ? o.policy : ctx.quant;
  if (quant) return quantLinear(ctx, quant, x, prefix, name, withBias);
  const mm = ctx.g.op('MatMul', [x, linearWeight(ctx, `${prefix}.weight`)], { name: `${name}/MatMul` });
  return withBias ? ctx.g.op('Add', [mm, param(ctx, `${prefix}.bias`)], { name: `${name}/Add` }) : mm;
}

/**
 *   x ──MatMulNBits(B packed, scales[, zero_points], bias)──▶   (weights never exist as float in the graph)
 */
function quantLinear(ctx: Ctx, q: QuantPolicy, x: string, prefix: string, name: string, withBias: boolean): string {
  const { g, src } = ctx;
  if (q.kernel === 'DynamicQuantizeMatMul') {
    //   x ──DynamicQuantizeMatMul(B int8 [in,out], scales [out], bias)──▶
    const [b, scales] = ctx.weights.use(g, `${prefix}.weight`, perChannelInt8);
    const inputs = [x, b, scales];
    if (withBias) inputs.push('', param(ctx, `${prefix}.bias`));
    return g.op('DynamicQuantizeMatMul', inputs, { name: `${name}/DynamicQuantizeMatMul`, domain: 'com.microsoft' });
  }
  const [n, k] = src.shape(`${prefix}.weight`);
  const [data, scales, zeroPoints] = ctx.weights.use(g, `${prefix}.weight`, blockQuantized(q));
  const inputs = [x, data, scales, zeroPoints ?? ''];
  if (withBias) inputs.push('', param(ctx, `${prefix}.bias`));
  while (inputs[inputs.length - 1] === '') inputs.pop();
  return g.op('MatMulNBits', inputs, {
    name: `${name}/MatMulNBits`,
    domain: 'com.microsoft',
    attrs: { K: k, N: n, bits: q.bits, block_size: q.blockSize, accuracy_level: q.accuracyLevel },
  });
}

export function layerNorm(ctx: Ctx, x: string, prefix: string, eps: number, name: string): string {
  return ctx.g.op('LayerNormalization', [x, param(ctx, `${prefix}.weight`), param(ctx, `${prefix}.bias`)], {
    name: `${name}/LayerNormalization`,
    attrs: { axis: -1, epsilon: { float: eps } },
  });
}

/** Exact (erf) GELU, ONNX Runtime's com.microsoft kernel. */
export function gelu(ctx: Ctx, x: string, name: string): string {
  return ctx.g.op('Gelu', [x], { name: `${name}/Gelu`, domain: 'com.microsoft' });
}

export function add(ctx: Ctx, a: string, b: string, name: string): string {
  return ctx.g.op('Add', [a, b], { name: `${name}/Add` });
}

/** Broadcasts a [1, n, d] parameter to the batch of `like` ([B, ...]). */
export function expandToBatch(ctx: Ctx, paramName: string, like: string, rest: number[], name: string): string {
  const { g } = ctx;
  const shape = g.op('Shape', [like], { name: `${name}/Shape`, attrs: { start: 0, end: 1 } });
  const target = g.op('Concat', [shape, g.ints(rest)], { name: `${name}/Concat`, attrs: { axis: 0 } });
  return g.op('Expand', [paramName, target], { name: `${name}/Expand` });
}

export const FLOAT = DT.FLOAT;
export const INT64 = DT.INT64;

export interface MhaOptions {
  heads: number;
  /** Score scale; ONNX Runtime's default is 1/sqrt(head_dim). */
  scale?: number;
  /** Additive bias [B or 1, 1, Sq, Skv] (masks). */
  bias?: string;
  name: string;
}

/**
 * Fused attention, ONNX Runtime's com.microsoft::MultiHeadAttention (one CPU kernel for
 * split heads, q·kᵀ, scale, bias, softmax, ·v and merge):
 *   q [B,Sq,h·d], k,v [B,Skv,h·d] or [B,h,Skv,d] ─ MultiHeadAttention ─▶ [B,Sq,h·d]
 */
export function multiHeadAttention(ctx: Ctx, q: string, k: string, v: string, o: MhaOptions): string {
  const inputs = [q, k, v, '', '', o.bias ?? ''];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  const attrs: Record<string, number | { float: number }> = { num_heads: o.heads };
  if (o.scale !== undefined) attrs.scale = { float: o.scale };
  return ctx.g.op('MultiHeadAttention', inputs, { name: `${o.name}/MultiHeadAttention`, domain: 'com.microsoft', attrs });
}

/** A decoder layer's self-attention cache as graph inputs: keys and values so far, [B, past, h·d]. */
export interface KvPast { key: string; value: string }

/**
 * Self-attention over the cached positions and the new ones. The graph returns only the new
 * tokens' keys/values (small); the runtime appends them to its own cache (runtime/blip2/kv-cache.ts),
 * so the whole cache never has to come back out of ONNX Runtime:
 *   past.key [B,P,h·d] ─┐
 *   k [B,S,h·d] ────────┴Concat─▶ keys [B,P+S,h·d]     (values alike)      new: k, v
 */
export function cachedKeyValues(ctx: Ctx, past: KvPast, k: string, v: string, name: string): { key: string; value: string } {
  const cat = (a: string, b: string, what: string) => ctx.g.op('Concat', [a, b], { name: `${name}/${what}/Concat`, attrs: { axis: 1 } });
  return { key: cat(past.key, k, 'keys'), value: cat(past.value, v, 'values') };
}

/** Declares layer i's cache inputs `past_key_values.{i}.{key,value}` [batch, past, width]; bindNew outputs the new keys/values as `new_key_values.{i}.*`. */
export function kvCacheIO(ctx: Ctx, i: number, width: number): { past: KvPast; bindNew(k: string, v: string): void } {
  const { g } = ctx;
  const past = {
    key: g.input(`past_key_values.${i}.key`, FLOAT, ['batch', 'past', width]),
    value: g.input(`past_key_values.${i}.value`, FLOAT, ['batch', 'past', width]),
  };
  return {
    past,
    bindNew(k, v) {
      g.bindOutput(k, `new_key_values.${i}.key`, FLOAT, ['batch', 'new_tokens', width]);
      g.bindOutput(v, `new_key_values.${i}.value`, FLOAT, ['batch', 'new_tokens', width]);
    },
  };
}

/**
 * Residual add fused with the LayerNorm that follows it (com.microsoft::SkipLayerNormalization):
 *   x ─┐
 *      Add ─ LayerNorm ─▶ normed      (and the sum x + skip, output 3, for the next residual)
 *   skip ┘
 */
export function skipLayerNorm(ctx: Ctx, x: string, skip: string, prefix: string, eps: number, name: string): { normed: string; sum: string } {
  const outs = ctx.g.node(
    'SkipLayerNormalization',
    [x, skip, param(ctx, `${prefix}.weight`), param(ctx, `${prefix}.bias`)],
    { name: `${name}/SkipLayerNormalization`, domain: 'com.microsoft', attrs: { epsilon: { float: eps } } },
    4,
  );
  return { normed: outs[0], sum: outs[3] };
}

/** A residual stream value, possibly with a pending addition the next norm will fuse. */
export interface Residual {
  x: string;
  delta?: string;
}

/** LayerNorm of x (+ delta, fused when pending); returns the normed value and the summed stream. */
export function normResidual(ctx: Ctx, r: Residual, prefix: string, eps: number, name: string): { normed: string; sum: string } {
  if (!r.delta) return { normed: layerNorm(ctx, r.x, prefix, eps, name), sum: r.x };
  return skipLayerNorm(ctx, r.x, r.delta, prefix, eps, name);
}

/**
 * RMS norm (T5LayerNorm: no mean subtraction, no bias), w · x / sqrt(mean(x²) + eps) in float32,
 * with the pending residual add fused when there is one:
 *   x (+ delta) ─ SimplifiedLayerNormalization / com.microsoft::SkipSimplifiedLayerNormalization ─▶ normed (and the sum)
 */
export function rmsNormResidual(ctx: Ctx, r: Residual, prefix: string, eps: number, name: string): { normed: string; sum: string } {
  const w = param(ctx, `${prefix}.weight`);
  if (!r.delta) {
    const normed = ctx.g.op('SimplifiedLayerNormalization', [r.x, w], { name: `${name}/SimplifiedLayerNormalization`, attrs: { axis: -1, epsilon: { float: eps } } });
    return { normed, sum: r.x };
  }
  const outs = ctx.g.node('SkipSimplifiedLayerNormalization', [r.x, r.delta, w],
    { name: `${name}/SkipSimplifiedLayerNormalization`, domain: 'com.microsoft', attrs: { epsilon: { float: eps } } }, 4);
  return { normed: outs[0], sum: outs[3] };
}

/**
 *   ids ─Gather(E)─▶ [B,T,H]                  (float32 table)
 *   ids ─Gather(E16)─Cast(float)─▶ [B,T,H]    (float16 table with ctx.embedFp16: half the memory)
 */
export function embedTokens(ctx: Ctx, table: string, ids: string, name: string): string {
  const { g } = ctx;
  if (!ctx.embedFp16) return g.op('Gather', [param(ctx, table), ids], { name: `${name}/Gather`, attrs: { axis: 0 } });
  const rows = g.op('Gather', [halfTable(ctx, table), ids], { name: `${name}/Gather`, attrs: { axis: 0 } });
  return g.op('Cast', [rows], { name: `${name}/Cast`, attrs: { to: DT.FLOAT } });
}

/** True when a tied table can be looked up in its head's quantized copy (8-bit MatMulNBits blocks). */
export function lookupsFromHead(head: QuantPolicy | undefined): boolean {
  return head?.bits === 8 && (head.kernel ?? 'MatMulNBits') === 'MatMulNBits';
}

/**
 * Token embeddings gathered from the 8-bit block-quantized copy of a tied table that the LM head
 * already stores for MatMulNBits, so the float16 table is not stored as well (OPT-2.7b: 257 MB less):
 *   ids ─Gather(data [V,blocks,bs])─Cast─(−zero point)─×Gather(scales [V,blocks])─Reshape─▶ [B,T,H]
 * dequant(q) = (q − zp) · scale, as MatMulNBits computes it. 8-bit only (4-bit rows would need unpacking).
 */
export function embedTokensQuantized(ctx: Ctx, table: string, q: QuantPolicy, ids: string, name: string): string {
  const { g } = ctx;
  if (!lookupsFromHead(q)) throw new Error(`quantized embedding lookups need 8-bit blocks, got ${q.bits}-bit ${q.kernel ?? 'MatMulNBits'}`);
  const [data, scales, zeroPoints] = ctx.weights.use(g, table, blockQuantized(q));
  const rows = g.op('Cast', [g.op('Gather', [data, ids], { name: `${name}/data/Gather`, attrs: { axis: 0 } })], { name: `${name}/data/Cast`, attrs: { to: DT.FLOAT } });
  const zp = zeroPoints
    ? g.op('Unsqueeze', [g.op('Cast', [g.op('Gather', [zeroPoints, ids], { name: `${name}/zero_points/Gather`, attrs: { axis: 0 } })], { name: `${name}/zero_points/Cast`, attrs: { to: DT.FLOAT } }), g.ints([-1])], { name: `${name}/zero_points/Unsqueeze` })
    : g.floats([128], []);
  const centred = g.op('Sub', [rows, zp], { name: `${name}/Sub` });
  const scale = g.op('Unsqueeze', [g.op('Gather', [scales, ids], { name: `${name}/scales/Gather`, attrs: { axis: 0 } }), g.ints([-1])], { name: `${name}/scales/Unsqueeze` });
  const values = g.op('Mul', [centred, scale], { name: `${name}/Mul` });
  const flat = g.op('Reshape', [values, g.ints([0, 0, -1])], { name: `${name}/Reshape` });
  // The last block is padded when the width is not a multiple of the block size: cut it back.
  const hidden = ctx.src.shape(table)[1];
  if (hidden % q.blockSize === 0) return flat;
  return g.op('Slice', [flat, g.ints([0]), g.ints([hidden]), g.ints([-1])], { name: `${name}/Slice` });
}

/** One dimension of a value's shape as an int64 scalar. */
export function dimOf(ctx: Ctx, x: string, axis: number, name: string): string {
  const { g } = ctx;
  const dim = g.op('Shape', [x], { name: `${name}/Shape`, attrs: { start: axis, end: axis + 1 } });
  return g.op('Squeeze', [dim, g.ints([0])], { name: `${name}/Squeeze` });
}
