// The Q-Former over learned queries (captioning path) plus the language projection:
//   image_embeds [B,Nv,Dv] → query_output [B,Q,Dq] → language_projection [B,Q,Dlm]
// BERT-style post-LN layers; cross-attention to the image in the layers the checkpoint has it.
import type { Ctx } from '../onnx/layers.ts';
import { FLOAT, expandToBatch, gelu, layerNorm, linear, multiHeadAttention, param, skipLayerNorm } from '../onnx/layers.ts';
import type { QFormerSpec, VisionSpec } from './spec.ts';

const P = 'qformer.';

export function buildQFormer(ctx: Ctx, q: QFormerSpec, v: VisionSpec, lmHidden: number): void {
  const { g } = ctx;
  const x = buildQueryOutput(ctx, q, v);
  const proj = linear(ctx, x, 'language_projection', '/language_projection');
  g.bindOutput(proj, 'language_projection', FLOAT, ['batch', q.queries, lmHidden]);
}

/** image_embeds input → the learned queries through every layer; binds and returns `query_output` [B,Q,Dq]. */
export function buildQueryOutput(ctx: Ctx, q: QFormerSpec, v: VisionSpec): string {
  const { g } = ctx;
  const image = g.input('image_embeds', FLOAT, ['batch', v.tokens, v.hidden]);
  const queries = expandToBatch(ctx, param(ctx, 'query_tokens'), image, [q.queries, q.hidden], '/qformer/queries');
  let x = layerNorm(ctx, queries, `${P}layernorm`, q.eps, '/qformer/layernorm');
  for (let i = 0; i < q.layers; i++) x = qformerQueryLayer(ctx, q, x, image, i);
  g.bindOutput(x, 'query_output', FLOAT, ['batch', q.queries, q.hidden]);
  return x;
}

/** BERT attention block: LN(dense(attn(Q from x, K/V from kv)) + x). */
export function bertAttention(ctx: Ctx, q: QFormerSpec, x: string, kv: string, prefix: string, name: string, bias?: string): string {
  const q3 = linear(ctx, x, `${prefix}attention.query`, `${name}/query`);
  const k3 = linear(ctx, kv, `${prefix}attention.key`, `${name}/key`);
  const v3 = linear(ctx, kv, `${prefix}attention.value`, `${name}/value`);
  const merged = multiHeadAttention(ctx, q3, k3, v3, { heads: q.heads, scale: q.headDim ** -0.5, bias, name });
  const dense = linear(ctx, merged, `${prefix}output.dense`, `${name}/output/dense`);
  return skipLayerNorm(ctx, dense, x, `${prefix}output.LayerNorm`, q.eps, `${name}/output/LayerNorm`).normed;
}

/** BERT feed-forward: LN(out(gelu(inter(x))) + x); `kind` is '_query' for query positions, '' for text. */
export function bertFeedForward(ctx: Ctx, q: QFormerSpec, x: string, layer: string, kind: '_query' | '', name: string): string {
  const inter = gelu(ctx, linear(ctx, x, `${layer}intermediate${kind}.dense`, `${name}/intermediate`), `${name}/act`);
  const out = linear(ctx, inter, `${layer}output${kind}.dense`, `${name}/output/dense`);
  return skipLayerNorm(ctx, out, x, `${layer}output${kind}.LayerNorm`, q.eps, `${name}/output/LayerNorm`).normed;
}

function qformerQueryLayer(ctx: Ctx, q: QFormerSpec, x: string, image: string, i: number): string {
  const layer = `${P}encoder.layer.${i}.`;
  const n = `/qformer/layers.${i}`;
  let h = bertAttention(ctx, q, x, x, `${layer}attention.`, `${n}/attention`);
  if (q.crossLayers.includes(i)) h = bertAttention(ctx, q, h, image, `${layer}crossattention.`, `${n}/crossattention`);
  return bertFeedForward(ctx, q, h, layer, '_query', `${n}/ffn_query`);
}
