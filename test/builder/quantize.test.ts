// Block quantization packed by us, run by ONNX Runtime's MatMulNBits: the product must equal
// A·dequant(W)ᵀ computed independently, for 4 and 8 bits, symmetric and asymmetric, with bias.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ExternalDataWriter } from '../../src/onnx/external-data.ts';
import { GraphBuilder } from '../../src/onnx/graph-builder.ts';
import { FLOAT, type QuantPolicy, linear } from '../../src/builder/onnx/layers.ts';
import { eagerWeights, type TensorReader } from '../../src/builder/onnx/weights.ts';
import { type BlockQuantConfig, dequantizeBlocks, quantizeBlocks, quantizePerChannelInt8 } from '../../src/builder/onnx/quantize.ts';
import { withTempDir } from '../helpers/fixtures.ts';

function rand(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

function matmulT(a: Float32Array, w: Float32Array, m: number, n: number, k: number, bias?: Float32Array): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = bias ? bias[j] : 0;
      for (let t = 0; t < k; t++) acc += a[i * k + t] * w[j * k + t];
      out[i * n + j] = acc;
    }
  return out;
}

/** `linear` over W [n, k] and bias as ONNX Runtime runs it on A [m, k], with the given quantization. */
async function runLinear(w: Float32Array, bias: Float32Array, a: Float32Array, [m, n, k]: number[], quant: QuantPolicy): Promise<Float32Array> {
  return withTempDir(async (dir) => {
    const src: TensorReader & { has(name: string): boolean } = {
      has: (name) => name === 'fc.weight' || name === 'fc.bias',
      shape: (name) => (name === 'fc.weight' ? [n, k] : [n]),
      read: (name) => (name === 'fc.weight' ? w : bias),
    };
    const data = new ExternalDataWriter(join(dir, 'm.onnx.data'));
    const g = new GraphBuilder('t', data);
    const x = g.input('x', FLOAT, ['m', k]);
    g.bindOutput(linear({ g, src, weights: eagerWeights(src), quant }, x, 'fc', '/fc'), 'y', FLOAT, ['m', n]);
    await writeFile(join(dir, 'm.onnx'), g.serialize({ '': 17, 'com.microsoft': 1 }));
    data.finish();
    const session = await ort.InferenceSession.create(join(dir, 'm.onnx'));
    const y = (await session.run({ x: new ort.Tensor('float32', a, [m, k]) })).y.data as Float32Array;
    await session.release();
    return y;
  });
}

describe('MatMulNBits packing', () => {
  const [m, n, k] = [3, 40, 96];
  const w = rand(1, n * k);
  const bias = rand(2, n);
  const a = rand(3, m * k);
  const cases: BlockQuantConfig[] = [
    { bits: 4, blockSize: 32, symmetric: true },
    { bits: 4, blockSize: 32, symmetric: false },
    { bits: 4, blockSize: 64, symmetric: false },
    { bits: 8, blockSize: 32, symmetric: true },
    { bits: 8, blockSize: 16, symmetric: false },
  ];
  for (const cfg of cases) {
    it(`${cfg.bits}-bit, block ${cfg.blockSize}, ${cfg.symmetric ? 'symmetric' : 'asymmetric'}`, async () => {
      const y = await runLinear(w, bias, a, [m, n, k], { ...cfg, accuracyLevel: 0 });
      const deq = dequantizeBlocks(quantizeBlocks(w, n, k, cfg), cfg);
      const expected = matmulT(a, deq, m, n, k, bias);
      let diff = 0;
      for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i] - expected[i]));
      assert.ok(diff < 1e-4, `ORT vs dequantized reference: ${diff}`);

      // The quantization error itself is bounded by half a step per weight.
      let werr = 0;
      for (let i = 0; i < w.length; i++) werr = Math.max(werr, Math.abs(w[i] - deq[i]));
      const step = 2 / ((1 << cfg.bits) - 1);
      assert.ok(werr <= step * (cfg.symmetric ? 1.01 : 0.51), `weight error ${werr} vs step ${step}`);
    });
  }
});

describe('DynamicQuantizeMatMul packing (per-channel int8 weights, activations quantized per call)', () => {
  it('matches A·Wᵀ + b within the int8 activation and weight steps, with weights laid out [in, out]', async () => {
    const [m, n, k] = [5, 48, 128];
    const w = rand(4, n * k);
    const bias = rand(5, n);
    const a = rand(6, m * k);
    const y = await runLinear(w, bias, a, [m, n, k], { bits: 8, blockSize: 0, symmetric: true, accuracyLevel: 0, kernel: 'DynamicQuantizeMatMul' });
    // Dequantized weights: each output channel's largest magnitude maps to ±127 exactly.
    const { data: q, scales } = quantizePerChannelInt8(w, n, k);
    const deq = new Float32Array(n * k);
    for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) deq[r * k + c] = q[c * n + r] * scales[r];
    for (let r = 0; r < n; r++) {
      let amax = 0;
      for (let c = 0; c < k; c++) amax = Math.max(amax, Math.abs(q[c * n + r]));
      assert.equal(amax, 127, `channel ${r}`);
    }
    const expected = matmulT(a, deq, m, n, k, bias);
    const exact = matmulT(a, w, m, n, k, bias);
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < y.length; i++) {
      diff = Math.max(diff, Math.abs(y[i] - expected[i]));
      scale = Math.max(scale, Math.abs(exact[i]));
    }
    // Activations in [-1, 1] quantized to uint8 (a step of 2/255) over k terms of |w| ≤ 1.
    assert.ok(diff < (k * (2 / 255)) / 4, `ORT vs dequantized reference: ${diff}`);
    assert.ok(diff / scale < 0.02, `relative error ${diff / scale}`);
  });
});
