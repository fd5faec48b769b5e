// The T5 encoder over BLIP-2's soft visual prompt and the text prompt, run once per question. It
// also computes every decoder layer's cross-attention keys and values from its output, so the
// decoder graph never recomputes them per token.
//
//   prefix_embeds [B,Q,H] ─┐
//   input_ids [B,T] ─Gather(shared)─┴Concat─ blocks (RMS norm, self-attention + position bias, FFN) ─ final RMS norm
//        ─▶ encoder_hidden_states [B,S,H]
//        ─ EncDecAttention.{k,v} of decoder layer i ─ [B,h,S,d] ─▶ cross_key_values.{i}.{key,value}
import type { Ctx, Residual } from '../onnx/layers.ts';
import { FLOAT, INT64, embedTokens, linear, rmsNormResidual } from '../onnx/layers.ts';
import { headsFirst, relativePositionBias, t5Attention, t5FeedForward, wholeSequence } from './t5-layers.ts';
import { T5, type T5Spec, t5EmbeddingName } from './t5-spec.ts';

export function buildT5Encoder(ctx: Ctx, s: T5Spec): void {
  const { g } = ctx;
  const prefix = g.input('prefix_embeds', FLOAT, ['batch', 'prefix', s.hidden]);
  const ids = g.input('input_ids', INT64, ['batch', 'prompt']);
  const tok = embedTokens(ctx, t5EmbeddingName(ctx.src), ids, '/encoder/embed_tokens');
  const embeds = g.op('Concat', [prefix, tok], { name: '/encoder/inputs_embeds/Concat', attrs: { axis: 1 } });
  const positions = wholeSequence(ctx, embeds, '/encoder/sequence');
  const bias = relativePositionBias(ctx, s, 'encoder', positions, positions.length);

  let state: Residual = { x: embeds };
  for (let i = 0; i < s.encoderLayers; i++) {
    const p = `${T5}encoder.block.${i}.layer.`;
    const n = `/encoder/block.${i}`;
    const { normed, sum } = rmsNormResidual(ctx, state, `${p}0.layer_norm`, s.eps, `${n}/self_attn_norm`);
    const attn = t5Attention(ctx, s, normed, `${p}0.SelfAttention.`, `${n}/self_attn`, { bias }).out;
    const ff = rmsNormResidual(ctx, { x: sum, delta: attn }, `${p}1.layer_norm`, s.eps, `${n}/ffn_norm`);
    state = { x: ff.sum, delta: t5FeedForward(ctx, s, ff.normed, `${p}1.DenseReluDense.`, `${n}/ffn`) };
  }
  const hidden = rmsNormResidual(ctx, state, `${T5}encoder.final_layer_norm`, s.eps, '/encoder/final_layer_norm').normed;
  g.bindOutput(hidden, 'encoder_hidden_states', FLOAT, ['batch', 'sequence', s.hidden]);

  for (let i = 0; i < s.layers; i++) {
    const p = `${T5}decoder.block.${i}.layer.1.EncDecAttention.`;
    const n = `/decoder/block.${i}/cross_attn`;
    for (const [w, out] of [['k', 'key'], ['v', 'value']] as const) {
      const kv = headsFirst(ctx, s, linear(ctx, hidden, `${p}${w}`, `${n}/${w}`), `${n}/${w}/heads`);
      g.bindOutput(kv, `cross_key_values.${i}.${out}`, FLOAT, ['batch', s.heads, 'sequence', s.headDim]);
    }
  }
}
