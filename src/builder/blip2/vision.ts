// The EVA ViT-g vision encoder (`vision_model.*`) as one ONNX graph:
//   pixel_values [B,3,S,S] → vision_embeddings [B,1+N,Dv] (before the encoder, for parity checks)
//                          → image_embeds [B,1+N,Dv] (after post_layernorm, the Q-Former's input)
import type { Ctx } from '../onnx/layers.ts';
import { FLOAT, type Residual, add, expandToBatch, gelu, linear, multiHeadAttention, normResidual, param, skipLayerNorm } from '../onnx/layers.ts';
import type { VisionSpec } from './spec.ts';

const P = 'vision_model.';

export function buildVision(ctx: Ctx, s: VisionSpec): void {
  const { g } = ctx;
  const pixels = g.input('pixel_values', FLOAT, ['batch', 3, s.imageSize, s.imageSize]);

  // Patchify: Conv(stride = kernel = patch) → [B, Dv, g, g] → [B, N, Dv]
  const conv = g.op('Conv', [pixels, param(ctx, `${P}embeddings.patch_embedding.weight`), param(ctx, `${P}embeddings.patch_embedding.bias`)], {
    name: '/vision/embeddings/patch/Conv',
    attrs: { kernel_shape: [s.patch, s.patch], strides: [s.patch, s.patch] },
  });
  const flat = g.op('Reshape', [conv, g.ints([0, s.hidden, -1])], { name: '/vision/embeddings/patch/Reshape' });
  const patches = g.op('Transpose', [flat], { name: '/vision/embeddings/patch/Transpose', attrs: { perm: [0, 2, 1] } });
  const cls = expandToBatch(ctx, param(ctx, `${P}embeddings.class_embedding`), pixels, [1, s.hidden], '/vision/embeddings/class');
  const seq = g.op('Concat', [cls, patches], { name: '/vision/embeddings/Concat', attrs: { axis: 1 } });
  const emb = add(ctx, seq, param(ctx, `${P}embeddings.position_embedding`), '/vision/embeddings/position');
  g.bindOutput(emb, 'vision_embeddings', FLOAT, ['batch', s.tokens, s.hidden]);

  // Each block ends with a pending residual (x + delta) that the next LayerNorm adds, fused.
  let state: Residual = { x: emb };
  for (let i = 0; i < s.layers; i++) state = visionLayer(ctx, s, state, i);
  const out = normResidual(ctx, state, `${P}post_layernorm`, s.eps, '/vision/post_layernorm').normed;
  g.bindOutput(out, 'image_embeds', FLOAT, ['batch', s.tokens, s.hidden]);
}

/**
 * Pre-LN ViT block:  h = x + proj(attn(LN1(x)));  out = h + fc2(gelu(fc1(LN2(h))))
 * The fused qkv projection [3·Dv] is one MatMul, split into q|k|v for the fused attention kernel.
 */
function visionLayer(ctx: Ctx, s: VisionSpec, prev: Residual, i: number): Residual {
  const { g } = ctx;
  const p = `${P}encoder.layers.${i}.`;
  const n = `/vision/layers.${i}`;
  const { normed: ln1, sum: x } = normResidual(ctx, prev, `${p}layer_norm1`, s.eps, `${n}/layer_norm1`);
  const qkv = linear(ctx, ln1, `${p}self_attn.qkv`, `${n}/attn/qkv`);
  const [q, k, v] = g.node('Split', [qkv, g.ints([s.hidden, s.hidden, s.hidden])], { name: `${n}/attn/qkv/Split`, attrs: { axis: -1 } }, 3);
  const merged = multiHeadAttention(ctx, q, k, v, { heads: s.heads, scale: s.headDim ** -0.5, name: `${n}/attn` });
  const proj = linear(ctx, merged, `${p}self_attn.projection`, `${n}/attn/projection`);
  const { normed: ln2, sum: h } = skipLayerNorm(ctx, x, proj, `${p}layer_norm2`, s.eps, `${n}/layer_norm2`);
  const fc1 = linear(ctx, ln2, `${p}mlp.fc1`, `${n}/mlp/fc1`);
  const fc2 = linear(ctx, gelu(ctx, fc1, `${n}/mlp/act`), `${p}mlp.fc2`, `${n}/mlp/fc2`);
  return { x: h, delta: fc2 };
}
