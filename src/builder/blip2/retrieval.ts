// The retrieval graphs of Blip2ForImageTextRetrieval (Salesforce/blip2-itm-vit-g), after HF 4.45:
//   image-embeds: image_embeds [B,Nv,Dv] → query_output [B,Q,Dq] → L2norm(vision_projection) → image_feats [B,Q,E]
//   text-embeds:  input_ids, attention_mask [B,T] → text-only Q-Former → CLS hidden [B,Dq] → L2norm(text_projection) → text_embeds [B,E]
//   itm:          image_embeds + input_ids + attention_mask → [queries; text] joint pass → mean(itm_head(query outputs)) → logits [B,2]
// Text embeddings are word + absolute positions (ids start at 0 even after the queries), with no
// norm of their own: the Q-Former `layernorm` normalizes the whole sequence. Padding is an additive
// (1 - mask) * -10000 bias; the text positions use the `intermediate`/`output` feed-forward and
// never cross-attend, the query positions use `intermediate_query`/`output_query`.
import { DT } from '../../onnx/graph-builder.ts';
import type { Ctx } from '../onnx/layers.ts';
import { FLOAT, INT64, add, expandToBatch, halfTable, layerNorm, linear, param } from '../onnx/layers.ts';
import { bertAttention, bertFeedForward, buildQueryOutput } from './qformer.ts';
import type { QFormerSpec, RetrievalSpec, VisionSpec } from './spec.ts';

const P = 'qformer.';
const MASKED = -10000;

export function buildImageEmbeds(ctx: Ctx, q: QFormerSpec, v: VisionSpec, r: RetrievalSpec): void {
  const x = buildQueryOutput(ctx, q, v);
  const feats = l2normalize(ctx, linear(ctx, x, 'vision_projection', '/vision_projection'), '/image_feats');
  ctx.g.bindOutput(feats, 'image_feats', FLOAT, ['batch', q.queries, r.embedDim]);
}

export function buildTextEmbeds(ctx: Ctx, q: QFormerSpec, r: RetrievalSpec): void {
  const { g } = ctx;
  const ids = g.input('input_ids', INT64, ['batch', 'text']);
  const mask = g.input('attention_mask', INT64, ['batch', 'text']);
  const bias = attentionBias(ctx, paddingBias(ctx, mask), ids, 0);
  let x = layerNorm(ctx, textEmbeddings(ctx, ids), `${P}layernorm`, q.eps, '/qformer/layernorm');
  for (let i = 0; i < q.layers; i++) {
    const n = `/qformer/layers.${i}`;
    const h = bertAttention(ctx, q, x, x, `${P}encoder.layer.${i}.attention.`, `${n}/attention`, bias);
    x = bertFeedForward(ctx, q, h, `${P}encoder.layer.${i}.`, '', `${n}/ffn`);
  }
  const cls = g.op('Gather', [x, g.ints([0], [])], { name: '/text_cls/Gather', attrs: { axis: 1 } });
  g.bindOutput(cls, 'text_cls_hidden', FLOAT, ['batch', q.hidden]);
  const embeds = l2normalize(ctx, linear(ctx, cls, 'text_projection', '/text_projection'), '/text_embeds');
  g.bindOutput(embeds, 'text_embeds', FLOAT, ['batch', r.embedDim]);
}

export function buildItm(ctx: Ctx, q: QFormerSpec, v: VisionSpec): void {
  const { g } = ctx;
  const image = g.input('image_embeds', FLOAT, ['batch', v.tokens, v.hidden]);
  const ids = g.input('input_ids', INT64, ['batch', 'text']);
  const mask = g.input('attention_mask', INT64, ['batch', 'text']);
  // Keys: Q always-visible queries, then the text with its padding masked.
  const keyBias = g.op('Pad', [paddingBias(ctx, mask), g.ints([0, q.queries, 0, 0]), g.floats([0], [])], { name: '/itm/mask/Pad', attrs: { mode: 'constant' } });
  const bias = attentionBias(ctx, keyBias, ids, q.queries);
  const queries = expandToBatch(ctx, param(ctx, 'query_tokens'), image, [q.queries, q.hidden], '/qformer/queries');
  const seq = g.op('Concat', [queries, textEmbeddings(ctx, ids)], { name: '/itm/embeddings/Concat', attrs: { axis: 1 } });
  let x = layerNorm(ctx, seq, `${P}layernorm`, q.eps, '/qformer/layernorm');
  const split = (h: string, n: string) => g.node('Split', [h, splitSizes(ctx, ids, q.queries, n)], { name: `${n}/Split`, attrs: { axis: 1 } }, 2);
  for (let i = 0; i < q.layers; i++) {
    const layer = `${P}encoder.layer.${i}.`;
    const n = `/qformer/layers.${i}`;
    const h = bertAttention(ctx, q, x, x, `${layer}attention.`, `${n}/attention`, bias);
    let [qh, th] = split(h, `${n}/split`);
    if (q.crossLayers.includes(i)) qh = bertAttention(ctx, q, qh, image, `${layer}crossattention.`, `${n}/crossattention`);
    qh = bertFeedForward(ctx, q, qh, layer, '_query', `${n}/ffn_query`);
    if (i === q.layers - 1) { x = qh; break; } // only the query outputs feed the head
    th = bertFeedForward(ctx, q, th, layer, '', `${n}/ffn`);
    x = g.op('Concat', [qh, th], { name: `${n}/Concat`, attrs: { axis: 1 } });
  }
  if (q.layers === 0) x = split(x, '/itm/queries')[0];
  const perQuery = linear(ctx, x, 'itm_head', '/itm_head');
  const logits = g.op('ReduceMean', [perQuery], { name: '/itm_head/ReduceMean', attrs: { axes: [1], keepdims: 0 } });
  g.bindOutput(logits, 'itm_logits', FLOAT, ['batch', 2]);
}

/**
 *   input_ids ─Gather(word_embeddings)─┐
 *                                      Add ─▶ [B,T,Dq]
 *   Slice(position_embeddings, 0..T) ──┘
 */
function textEmbeddings(ctx: Ctx, ids: string): string {
  const { g } = ctx;
  const name = 'embeddings.word_embeddings.weight';
  let words: string;
  if (!ctx.embedFp16) {
    words = g.op('Gather', [param(ctx, name), ids], { name: '/embeddings/word/Gather', attrs: { axis: 0 } });
  } else {
    const table = halfTable(ctx, name);
    const rows = g.op('Gather', [table, ids], { name: '/embeddings/word/Gather', attrs: { axis: 0 } });
    words = g.op('Cast', [rows], { name: '/embeddings/word/Cast', attrs: { to: DT.FLOAT } });
  }
  const len = g.op('Shape', [ids], { name: '/embeddings/position/Shape', attrs: { start: 1, end: 2 } });
  const pos = g.op('Slice', [param(ctx, 'embeddings.position_embeddings.weight'), g.ints([0]), len, g.ints([0])], { name: '/embeddings/position/Slice' });
  return add(ctx, words, pos, '/embeddings/position');
}

/** attention_mask [B,T] (1 = token) → additive key bias [B,T]: 0 or -10000. */
function paddingBias(ctx: Ctx, mask: string): string {
  const { g } = ctx;
  const m = g.op('Cast', [mask], { name: '/mask/Cast', attrs: { to: DT.FLOAT } });
  const inv = g.op('Sub', [g.floats([1], []), m], { name: '/mask/Sub' });
  return g.op('Mul', [inv, g.floats([MASKED], [])], { name: '/mask/Mul' });
}

/** Key bias [B,S] → [B,1,S,S] (S = extra + text length), the fused attention kernel's bias shape. */
function attentionBias(ctx: Ctx, keyBias: string, ids: string, extra: number): string {
  const { g } = ctx;
  const b4 = g.op('Unsqueeze', [keyBias, g.ints([1, 2])], { name: '/mask/Unsqueeze' });
  const len = g.op('Shape', [ids], { name: '/mask/Shape', attrs: { start: 1, end: 2 } });
  const rows = extra ? g.op('Add', [len, g.ints([extra])], { name: '/mask/rows/Add' }) : len;
  const target = g.op('Concat', [g.ints([1, 1]), rows, g.ints([1])], { name: '/mask/target/Concat', attrs: { axis: 0 } });
  return g.op('Expand', [b4, target], { name: '/mask/Expand' });
}

/** [Q, T] for splitting a [B,Q+T,D] sequence into queries and text. */
function splitSizes(ctx: Ctx, ids: string, queries: number, name: string): string {
  const { g } = ctx;
  const len = g.op('Shape', [ids], { name: `${name}/Shape`, attrs: { start: 1, end: 2 } });
  return g.op('Concat', [g.ints([queries]), len], { name: `${name}/sizes/Concat`, attrs: { axis: 0 } });
}

/** x / ‖x‖₂ over the last axis (HF's F.normalize; the eps never matters for real features). */
function l2normalize(ctx: Ctx, x: string, name: string): string {
  return ctx.g.op('LpNormalization', [x], { name: `${name}/LpNormalization`, attrs: { axis: -1, p: 2 } });
}
