// The Q-Former over learned queries (captioning path) plus the language projection:
//   image_embeds [B,Nv,Dv] → query_output [B,Q,Dq] → language_projection [B,Q,Dlm]
// BERT-style post-LN layers; cross-attention to the image in the layers the checkpoint has it.
import type { Ctx } from '../onnx/layers.ts';
import { FLOAT, add, attention, expandToBatch, gelu, layerNorm, linear, mergeHeads, param, splitHeads } from '../onnx/layers.ts';
import type { QFormerSpec, VisionSpec } from './spec.ts';

const P = 'qformer.';

export function buildQFormer(ctx: Ctx, q: QFormerSpec, v: VisionSpec, lmHidden: number): void {
  const { g } = ctx;
  const image = g.input('image_embeds', FLOAT, ['batch', v.tokens, v.hidden]);
  const queries = expandToBatch(ctx, param(ctx, 'query_tokens'), image, [q.queries, q.hidden], '/qformer/queries');
  let x = layerNorm(ctx, queries, `${P}layernorm`, q.eps, '/qformer/layernorm');
  for (let i = 0; i < q.layers; i++) x = qformerQueryLayer(ctx, q, x, image, i);
  g.bindOutput(x, 'query_output', FLOAT, ['batch', q.queries, q.hidden]);
  const proj = linear(ctx, x, 'language_projection', '/language_projection');
  g.bindOutput(proj, 'language_projection', FLOAT, ['batch', q.queries, lmHidden]);
}

/** BERT attention block: LN(dense(attn(Q from x, K/V from kv)) + x). */
export function bertAttention(ctx: Ctx, q: QFormerSpec, x: string, kv: string, prefix: string, name: string, bias?: string): string {
  const qh = splitHeads(ctx, linear(ctx, x, `${prefix}attention.query`, `${name}/query`), q.heads, q.headDim, `${name}/query/split`);
  const kh = splitHeads(ctx, linear(ctx, kv, `${prefix}attention.key`, `${name}/key`), q.heads, q.headDim, `${name}/key/split`);
  const vh = splitHeads(ctx, linear(ctx, kv, `${prefix}attention.value`, `${name}/value`), q.heads, q.headDim, `${name}/value/split`);
  const a = attention(ctx, qh, kh, vh, { scale: q.headDim ** -0.5, bias, name });
  const dense = linear(ctx, mergeHeads(ctx, a, q.hidden, `${name}/merge`), `${prefix}output.dense`, `${name}/output/dense`);
  return layerNorm(ctx, add(ctx, dense, x, `${name}/output/residual`), `${prefix}output.LayerNorm`, q.eps, `${name}/output/LayerNorm`);
}

/** BERT feed-forward: LN(out(gelu(inter(x))) + x); `kind` is '_query' for query positions, '' for text. */
export function bertFeedForward(ctx: Ctx, q: QFormerSpec, x: string, layer: string, kind: '_query' | '', name: string): string {
  const inter = gelu(ctx, linear(ctx, x, `${layer}intermediate${kind}.dense`, `${name}/intermediate`), `${name}/act`);
  const out = linear(ctx, inter, `${layer}output${kind}.dense`, `${name}/output/dense`);
  return layerNorm(ctx, add(ctx, out, x, `${name}/output/residual`), `${layer}output${kind}.LayerNorm`, q.eps, `${name}/output/LayerNorm`);
}

function qformerQueryLayer(ctx: Ctx, q: QFormerSpec, x: string, image: string, i: number): string {
  const layer = `${P}encoder.layer.${i}.`;
  const n = `/qformer/layers.${i}`;
  let h = bertAttention(ctx, q, x, x, `${layer}attention.`, `${n}/attention`);
  if (q.crossLayers.includes(i)) h = bertAttention(ctx, q, h, image, `${layer}crossattention.`, `${n}/crossattention`);
  return bertFeedForward(ctx, q, h, layer, '_query', `${n}/ffn_query`);
}
