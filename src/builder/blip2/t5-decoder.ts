// The T5 decoder, one step per call, with a self-attention KV cache (kept by the runtime like
// OPT's: past_key_values.{i} [B,past,h·d] in, the new token's new_key_values.{i} out) and the
// cross-attention keys/values the encoder graph computed once. Only the last position's logits are produced.
//
//   input_ids [B,T] ─Gather(shared)─ blocks ─ last position ─ final RMS norm ─ (tied: × d_model^-0.5) ─ lm_head ─▶ logits [B,V]
//   block: RMS ─ self-attention (position bias + causal, past_key_values.{i} → new_key_values.{i}) ─ +
//          RMS ─ cross-attention (cross_key_values.{i}) ─ +   RMS ─ FFN ─ +
import type { Ctx, Residual } from '../onnx/layers.ts';
import { FLOAT, INT64, dimOf, embedTokens, kvCacheIO, linear, param, rmsNormResidual } from '../onnx/layers.ts';
import { relativePositionBias, t5Attention, t5FeedForward } from './t5-layers.ts';
import { T5, type T5Spec, t5EmbeddingName } from './t5-spec.ts';

export function buildT5Decoder(ctx: Ctx, s: T5Spec): void {
  const { g } = ctx;
  const ids = g.input('input_ids', INT64, ['batch', 'new_tokens']);
  const table = t5EmbeddingName(ctx.src);
  const x = embedTokens(ctx, table, ids, '/decoder/embed_tokens');
  const caches = Array.from({ length: s.layers }, (_, i) => kvCacheIO(ctx, i, s.heads * s.headDim));
  const crosses = Array.from({ length: s.layers }, (_, i) => ({
    key: g.input(`cross_key_values.${i}.key`, FLOAT, ['batch', s.heads, 'encoder_sequence', s.headDim]),
    value: g.input(`cross_key_values.${i}.value`, FLOAT, ['batch', s.heads, 'encoder_sequence', s.headDim]),
  }));

  // Queries sit after the cached positions: positions past .. past+T-1 against keys 0 .. past+T-1.
  const past = dimOf(ctx, caches[0].past.key, 1, '/decoder/past_length');
  const length = dimOf(ctx, ids, 1, '/decoder/new_tokens');
  const total = g.op('Add', [past, length], { name: '/decoder/total_length/Add' });
  const bias = relativePositionBias(ctx, s, 'decoder', { start: past, length }, total);

  let state: Residual = { x };
  for (let i = 0; i < s.layers; i++) {
    const p = `${T5}decoder.block.${i}.layer.`;
    const n = `/decoder/block.${i}`;
    const sa = rmsNormResidual(ctx, state, `${p}0.layer_norm`, s.eps, `${n}/self_attn_norm`);
    const self = t5Attention(ctx, s, sa.normed, `${p}0.SelfAttention.`, `${n}/self_attn`, { bias, past: caches[i].past });
    caches[i].bindNew(self.newKey!, self.newValue!);
    const ca = rmsNormResidual(ctx, { x: sa.sum, delta: self.out }, `${p}1.layer_norm`, s.eps, `${n}/cross_attn_norm`);
    const cross = t5Attention(ctx, s, ca.normed, `${p}1.EncDecAttention.`, `${n}/cross_attn`, { keyValues: crosses[i] }).out;
    const ff = rmsNormResidual(ctx, { x: ca.sum, delta: cross }, `${p}2.layer_norm`, s.eps, `${n}/ffn_norm`);
    state = { x: ff.sum, delta: t5FeedForward(ctx, s, ff.normed, `${p}2.DenseReluDense.`, `${n}/ffn`) };
  }

  const lastOf = (v: string, what: string) => g.op('Gather', [v, g.ints([-1], [])], { name: `/decoder/last_position/${what}/Gather`, attrs: { axis: 1 } });
  const last: Residual = { x: lastOf(state.x, 'x'), delta: state.delta && lastOf(state.delta, 'delta') };
  let normed = rmsNormResidual(ctx, last, `${T5}decoder.final_layer_norm`, s.eps, '/decoder/final_layer_norm').normed;
  let logits: string;
  if (s.tiedHead) {
    // HF rescales before a head tied to the embedding (T5ForConditionalGeneration.forward).
    normed = g.op('Mul', [normed, g.floats([s.hidden ** -0.5], [])], { name: '/lm_head/scale/Mul' });
    logits = ctx.headQuant
      ? linear({ ...ctx, quant: ctx.headQuant }, normed, table.replace(/\.weight$/, ''), '/lm_head', { bias: false })
      : g.op('Gemm', [normed, param(ctx, table)], { name: '/lm_head/Gemm', attrs: { transB: 1 } });
  } else {
    logits = linear({ ...ctx, quant: ctx.headQuant }, normed, `${T5}lm_head`, '/lm_head', { bias: false });
  }
  g.bindOutput(logits, 'logits', FLOAT, ['batch', s.vocabRows]);
}
