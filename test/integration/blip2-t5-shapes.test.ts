// T5 shapes the Hugging Face fixture does not have, converted from seeded random checkpoints and
// checked against a plain-TypeScript reference (test/helpers/t5-reference.ts): other head counts,
// d_kv × heads ≠ d_model, erf GELU, ReLU without gating, a tied head (d_model^-0.5), other layer
// counts, a maximum distance short enough that the last bucket is used. Every check covers the
// encoder output, the first decoder step, then cached steps where beam search expands and reorders
// rows. Quantized models are checked against the weights they hold (float activations).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { quantPlan, type QuantSettings } from '../../src/builder/quant-plan.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import type { T5Stepper } from '../../src/runtime/blip2/t5-stepper.ts';
import { makeTempDir, readF32, readJson } from '../helpers/fixtures.ts';
import { type T5Shape, writeT5Checkpoint } from '../helpers/t5-checkpoint.ts';
import { type RefShape, T5Reference, type WeightView } from '../helpers/t5-reference.ts';

const golden = readJson('flan_t5/golden.json');
const pixels = () => readF32(`pixel_values/${golden.cases[0].image.replace(/\.[a-z]+$/, '')}.pixel_values.f32.bin`);

interface Case { name: string; shape: T5Shape; act: RefShape['act']; quant?: QuantSettings }
const CASES: Case[] = [
  {
    name: 'erf GELU, 4 heads × d_kv 12 = 48 ≠ d_model 40, 3 encoder + 1 decoder blocks, max distance 12',
    shape: { dModel: 40, dKv: 12, heads: 4, dFf: 56, encoderLayers: 3, decoderLayers: 1, vocab: 300, buckets: 16, maxDistance: 12, act: 'gelu', feedForwardProj: 'gated-gelu', gated: true, tied: false },
    act: 'gelu',
  },
  {
    name: 'ReLU without gating (original T5), 8 heads × d_kv 4, tied head, 1 encoder + 3 decoder blocks',
    shape: { dModel: 32, dKv: 4, heads: 8, dFf: 48, encoderLayers: 1, decoderLayers: 3, vocab: 200, buckets: 32, maxDistance: 128, feedForwardProj: 'relu', gated: false, tied: true },
    act: 'relu',
  },
  {
    name: 'tanh GELU from feed_forward_proj "gated-gelu" alone, 2 heads × d_kv 16 ≠ d_model 64, tied head, 8 buckets',
    shape: { dModel: 64, dKv: 16, heads: 2, dFf: 96, encoderLayers: 2, decoderLayers: 2, vocab: 256, buckets: 8, maxDistance: 16, feedForwardProj: 'gated-gelu', gated: true, tied: true },
    act: 'gelu_new',
  },
];
const QUANTIZED: Case[] = (['int8', 'int4'] as const).map((quant) => ({ ...CASES[2], name: `${quant} (float activations) of the last shape`, quant: { quant, accuracyLevel: 0 } }));

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

const PROMPT = [37, 5, 101, 9, 64, 2, 77, 150, 11, 8, 3, 1];

function maxDiff(ours: ArrayLike<number>, ref: ArrayLike<number>, offset = 0): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[offset + i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return { diff, scale };
}

function assertClose(ours: ArrayLike<number>, ref: ArrayLike<number>, what: string, offset = 0): void {
  const { diff, scale } = maxDiff(ours, ref, offset);
  const tol = 1e-4 * Math.max(1, scale);
  assert.ok(diff <= tol, `${what}: max abs diff ${diff} > ${tol} (values up to ${scale})`);
}

const argmaxOf = (v: ArrayLike<number>, from: number, n: number) => {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[from + i] > v[from + best]) best = i;
  return best;
};

for (const [k, c] of [...CASES, ...QUANTIZED].entries()) {
  describe(`T5 of another shape: ${c.name}`, () => {
    let model: Blip2Model;
    let ref: T5Reference;
    before(async () => {
      const ck = join(dir, `ck-${k}`);
      const tensors = await writeT5Checkpoint(ck, c.shape, 1000 + (k % CASES.length));
      await convertCheckpoint(ck, join(dir, `m-${k}`), c.quant ?? {});
      model = await Blip2Model.load(join(dir, `m-${k}`));
      const plan = quantPlan(c.quant ?? {});
      const view: WeightView = { linear: plan.decoder, head: plan.lmHead, embedFp16: plan.embeddingsFp16, overrides: plan.decoderOverrides };
      const s = c.shape;
      ref = new T5Reference(tensors, {
        dModel: s.dModel, heads: s.heads, dKv: s.dKv, encoderLayers: s.encoderLayers, decoderLayers: s.decoderLayers,
        buckets: s.buckets, maxDistance: s.maxDistance, act: c.act, gated: s.gated, tied: s.tied, eps: 1e-6,
      }, view);
    });
    after(() => model?.dispose());

    it('records the shape read from the tensors', () => {
      const l = model.manifest.shapes.language as Record<string, unknown>;
      const s = c.shape;
      assert.deepEqual(
        [l.hidden, l.heads, l.headDim, l.innerDim, l.encoderLayers, l.layers, l.ffn, l.vocabRows, l.buckets, l.maxDistance, l.gated, l.tiedHead],
        [s.dModel, s.heads, s.dKv, s.heads * s.dKv, s.encoderLayers, s.decoderLayers, s.dFf, s.vocab, s.buckets, s.maxDistance, s.gated, s.tied],
      );
    });

    it('encoder output, first step and cached beam steps (expand, reorder, grow) match the reference', async () => {
      const enc = await model.encodePixels(pixels());
      const V = c.shape.vocab;
      const stepper = (await model.halves.use('language', async (g) => g.stepper(enc.prefix, PROMPT))) as T5Stepper;
      const first = await stepper.prefill();
      const encRef = ref.encode(enc.prefix, PROMPT);
      assertClose(stepper.encoderHiddenStates!, encRef.v, 'encoder output');
      assertClose(first, ref.decodeLast(encRef, [0]), 'first step logits');

      // Beam search's first expansion: one prompt row becomes two.
      const a = argmaxOf(first, 0, V);
      const b = (a + 7) % V;
      const two = await stepper.next([a, b], [0, 0]);
      assertClose(two, ref.decodeLast(encRef, [0, a]), 'row 0 after [a]');
      assertClose(two, ref.decodeLast(encRef, [0, b]), 'row 1 after [b]', V);
      // Rows swap parents.
      const cTok = argmaxOf(two, V, V);
      const dTok = argmaxOf(two, 0, V);
      const swapped = await stepper.next([cTok, dTok], [1, 0]);
      assertClose(swapped, ref.decodeLast(encRef, [0, b, cTok]), 'row 0 from row 1', 0);
      assertClose(swapped, ref.decodeLast(encRef, [0, a, dTok]), 'row 1 from row 0', V);
      // The row count grows again (cross-attention keys are re-expanded).
      const three = await stepper.next([3, 4, 5], [1, 0, 0]);
      assertClose(three, ref.decodeLast(encRef, [0, a, dTok, 3]), 'row 0 of 3', 0);
      assertClose(three, ref.decodeLast(encRef, [0, b, cTok, 4]), 'row 1 of 3', V);
      assertClose(three, ref.decodeLast(encRef, [0, b, cTok, 5]), 'row 2 of 3', 2 * V);
    });

    it('greedy and beam generation run to completion', async () => {
      const enc = await model.encodePixels(pixels());
      const greedy = await model.generate(enc, PROMPT, { maxNewTokens: 6 });
      assert.ok(greedy.tokenIds.length >= 1 && greedy.tokenIds.length <= 6);
      const beams = await model.generate(enc, PROMPT, { maxNewTokens: 6, numBeams: 3 });
      assert.ok(beams.tokenIds.length >= 1 && Number.isFinite(beams.score));
    });
  });
}
