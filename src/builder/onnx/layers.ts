// Small make_* helpers that emit common transformer subgraphs with stable node names.
// Weights come from a TensorSource by their Hugging Face names; Linear weights ([out, in] in HF)
// are transposed once at conversion so every projection is a plain MatMul.
import { DT, type GraphBuilder } from './graph-builder.ts';
import { type BlockQuantConfig, quantizeBlocks } from './quantize.ts';

export interface TensorSource {
  has(name: string): boolean;
  shape(name: string): number[];
  /** Reads one tensor as float32 (F16/BF16 widened); throws a 'tensor_missing' error naming it. */
  read(name: string): Float32Array;
}

export interface Ctx {
  g: GraphBuilder;
  src: TensorSource;
  /** Weight-only quantization for the projections of this graph; absent = float32. */
  quant?: QuantPolicy;
  /** Quantization of a language model's output head (tied heads stay shared in float32 without it). */
  headQuant?: QuantPolicy;
  /** Store token-embedding tables as float16 (looked up then cast to float32): half their memory. */
  embedFp16?: boolean;
}

export interface QuantPolicy extends BlockQuantConfig {
  /** MatMulNBits accuracy_level: 0 = float activations, 4 = int8 activations (faster on CPU). */
  accuracyLevel: number;
}

export function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[base + c];
  }
  return out;
}

/** The [in, out] weight of an HF Linear, added once. */
export function linearWeight(ctx: Ctx, hfWeight: string): string {
  const name = `${hfWeight}.T`;
  if (ctx.g.has(name)) return name;
  const [rows, cols] = ctx.src.shape(hfWeight);
  return ctx.g.weight(name, transpose2d(ctx.src.read(hfWeight), rows, cols), [cols, rows]);
}

export function param(ctx: Ctx, hfName: string): string {
  if (ctx.g.has(hfName)) return hfName;
  return ctx.g.weight(hfName, ctx.src.read(hfName), ctx.src.shape(hfName));
}

/**
 *   x ──MatMul(Wᵀ)──Add(b)──▶
 * `prefix` is the HF module path (prefix.weight, optional prefix.bias).
 */
export function linear(ctx: Ctx, x: string, prefix: string, name: string, opts: { bias?: boolean } = {}): string {
  const withBias = opts.bias ?? ctx.src.has(`${prefix}.bias`);
  if (ctx.quant) return quantLinear(ctx, ctx.quant, x, prefix, name, withBias);
  const mm = ctx.g.op('MatMul', [x, linearWeight(ctx, `${prefix}.weight`)], { name: `${name}/MatMul` });
  return withBias ? ctx.g.op('Add', [mm, param(ctx, `${prefix}.bias`)], { name: `${name}/Add` }) : mm;
}

/**
 *   x ──MatMulNBits(B packed, scales[, zero_points], bias)──▶   (weights never exist as float in the graph)
 */
function quantLinear(ctx: Ctx, q: QuantPolicy, x: string, prefix: string, name: string, withBias: boolean): string {
  const { g, src } = ctx;
  const [n, k] = src.shape(`${prefix}.weight`);
  const packed = quantizeBlocks(src.read(`${prefix}.weight`), n, k, q);
  const base = `${prefix}.weight.q${q.bits}`;
  const inputs = [
    x,
    g.tensor(`${base}.data`, DT.UINT8, packed.data, [n, packed.blocks, (q.blockSize * q.bits) / 8]),
    g.weight(`${base}.scales`, packed.scales, [n, packed.blocks]),
    packed.zeroPoints ? g.tensor(`${base}.zero_points`, DT.UINT8, packed.zeroPoints, [n, packed.zeroPoints.length / n]) : '',
  ];
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
  /** KV cache [B, heads, past, head_dim]; with it the node also outputs present key/value. */
  past?: { key: string; value: string };
  name: string;
}

/**
 * Fused attention, ONNX Runtime's com.microsoft::MultiHeadAttention (one CPU kernel for
 * split heads, q·kᵀ, scale, bias, softmax, ·v and merge; with a cache it also appends to it):
 *   q,k,v [B,S,h·d] ─ MultiHeadAttention ─▶ [B,Sq,h·d]  (+ present_key/value [B,h,past+S,d])
 */
export function multiHeadAttention(ctx: Ctx, q: string, k: string, v: string, o: MhaOptions): { out: string; presentKey?: string; presentValue?: string } {
  const inputs = [q, k, v, '', '', o.bias ?? '', o.past?.key ?? '', o.past?.value ?? ''];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  const attrs: Record<string, number | { float: number }> = { num_heads: o.heads };
  if (o.scale !== undefined) attrs.scale = { float: o.scale };
  const outs = ctx.g.node('MultiHeadAttention', inputs, { name: `${o.name}/MultiHeadAttention`, domain: 'com.microsoft', attrs }, o.past ? 3 : 1);
  return { out: outs[0], presentKey: outs[1], presentValue: outs[2] };
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
