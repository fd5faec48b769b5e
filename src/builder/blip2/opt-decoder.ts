// OPT decoder with a KV cache, token embedding and tied LM head in one graph (the embedding is
// stored once and serves both the Gather and the head: as float, or as the head's 8-bit blocks).
//
//   prefix_embeds [B,P,H] ─┐
//   input_ids [B,T] ─Gather─┴Concat─ + positions(position_ids + 2) ─ layers ─ last position ─ LN ─ Gemm(Eᵀ) ─▶ logits [B,V]
//   past_key_values.{i}.{key,value} [B,past,h·d] ─Concat(new k/v)─ MultiHeadAttention; the new
//   tokens' keys/values alone come out as new_key_values.{i}.{key,value} [B,new,h·d]
//
// The cache lives in the runtime's own buffers (src/runtime/blip2/kv-cache.ts), which append the
// new rows and follow beam search's row changes: only a few KB per layer leave ONNX Runtime per step.
// attention_bias [B,1,S,past+S] is the additive causal/padding mask, built by the runtime.
import type { Ctx } from '../onnx/layers.ts';
import { FLOAT, INT64, type KvPast, type Residual, cachedKeyValues, embedTokens, embedTokensQuantized, kvCacheIO, linear, lookupsFromHead, multiHeadAttention, normResidual, param, skipLayerNorm } from '../onnx/layers.ts';
import type { LanguageSpec } from './spec.ts';

const P = 'language_model.model.decoder.';

export function buildOptDecoder(ctx: Ctx, s: LanguageSpec): void {
  const { g } = ctx;
  const ids = g.input('input_ids', INT64, ['batch', 'new_tokens']);
  const prefix = g.input('prefix_embeds', FLOAT, ['batch', 'prefix', s.hidden]);
  const positions = g.input('position_ids', INT64, ['batch', 'sequence']);
  const bias = g.input('attention_bias', FLOAT, ['batch', 1, 'sequence', 'total']);

  // A tied head quantized to 8-bit blocks is also the table the tokens are looked up in: one copy.
  const tok = lookupsFromHead(ctx.headQuant)
    ? embedTokensQuantized(ctx, `${P}embed_tokens.weight`, ctx.headQuant!, ids, '/decoder/embed_tokens')
    : embedTokens(ctx, `${P}embed_tokens.weight`, ids, '/decoder/embed_tokens');
  const embeds = g.op('Concat', [prefix, tok], { name: '/decoder/inputs_embeds/Concat', attrs: { axis: 1 } });
  // OPT's learned positions are offset by 2 (a fairseq heritage).
  const shifted = g.op('Add', [positions, g.ints([2], [])], { name: '/decoder/embed_positions/offset/Add' });
  const pos = g.op('Gather', [param(ctx, `${P}embed_positions.weight`), shifted], { name: '/decoder/embed_positions/Gather', attrs: { axis: 0 } });
  let state: Residual = { x: embeds, delta: pos };

  for (let i = 0; i < s.layers; i++) {
    const io = kvCacheIO(ctx, i, s.heads * s.headDim);
    const layer = optLayer(ctx, s, state, { past: io.past, bias, i });
    io.bindNew(layer.key, layer.value);
    state = layer.out;
  }

  // Only the last position's logits are needed: take it before the final norm and the head.
  const lastOf = (v: string, what: string) => g.op('Gather', [v, g.ints([-1], [])], { name: `/decoder/last_position/${what}/Gather`, attrs: { axis: 1 } });
  const last: Residual = { x: lastOf(state.x, 'x'), delta: state.delta && lastOf(state.delta, 'delta') };
  const normed = normResidual(ctx, last, `${P}final_layer_norm`, s.eps, '/decoder/final_layer_norm').normed;
  // lm_head is tied to embed_tokens: logits = h · Eᵀ, sharing the float table with the Gather,
  // or a quantized copy of E (the Gather keeps reading single float rows).
  const logits = ctx.headQuant
    ? linear({ ...ctx, quant: ctx.headQuant }, normed, `${P}embed_tokens`, '/lm_head', { bias: false })
    : g.op('Gemm', [normed, param(ctx, `${P}embed_tokens.weight`)], { name: '/lm_head/Gemm', attrs: { transB: 1 } });
  g.bindOutput(logits, 'logits', FLOAT, ['batch', s.vocabRows]);
}

interface LayerIO { past: KvPast; bias: string; i: number }

/** Pre-LN block: h = x + out_proj(attn(LN(x)));  y = h + fc2(relu(fc1(LN(h)))) */
function optLayer(ctx: Ctx, s: LanguageSpec, prev: Residual, io: LayerIO): { out: Residual; key: string; value: string } {
  const { g } = ctx;
  const p = `${P}layers.${io.i}.`;
  const n = `/decoder/layers.${io.i}`;
  const { normed: ln, sum: x } = normResidual(ctx, prev, `${p}self_attn_layer_norm`, s.eps, `${n}/self_attn_layer_norm`);
  // HF scales q (bias included) before q·kᵀ; the same product comes from the kernel's scale.
  const qs = linear(ctx, ln, `${p}self_attn.q_proj`, `${n}/attn/q_proj`);
  const k = linear(ctx, ln, `${p}self_attn.k_proj`, `${n}/attn/k_proj`);
  const v = linear(ctx, ln, `${p}self_attn.v_proj`, `${n}/attn/v_proj`);
  const all = cachedKeyValues(ctx, io.past, k, v, `${n}/attn/cache`);
  const a = multiHeadAttention(ctx, qs, all.key, all.value, { heads: s.heads, scale: s.headDim ** -0.5, bias: io.bias, name: `${n}/attn` });
  const out = linear(ctx, a, `${p}self_attn.out_proj`, `${n}/attn/out_proj`);
  const { normed: ln2, sum: h } = skipLayerNorm(ctx, x, out, `${p}final_layer_norm`, s.eps, `${n}/final_layer_norm`);
  const fc1 = g.op('Relu', [linear(ctx, ln2, `${p}fc1`, `${n}/fc1`)], { name: `${n}/act/Relu` });
  return { out: { x: h, delta: linear(ctx, fc1, `${p}fc2`, `${n}/fc2`) }, key: k, value: v };
}

