// int8 and int4 models must stay close to Hugging Face's float32 logits on the fixtures; the
// bounds here are what the accuracy report of `npm run bench` measured, with a margin.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { compareLogits, topK } from '../../src/runtime/logits-compare.ts';
import { readManifest } from '../../src/runtime/model-folder.ts';
import { fixturePath, makeTempDir, readF32, readJson } from '../helpers/fixtures.ts';

const golden = readJson('opt/golden.json');
let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

// Measured on the fixture (8 image × prompt pairs): int8 cosine ≥ 0.99988, top-1 8/8, top-5 overlap 0.95;
// int4 cosine ≥ 0.9885, top-1 1/8, top-5 overlap 0.725 with a 4-bit vision encoder; ≥ 0.9922, 2/8, 0.7
// with the per-channel int8 one; ≥ 0.9969, 6/8, 0.75 with fc2, v_proj and out_proj in 8 bits too. This tiny random model's top logits are within
// a few hundredths of each other, so int4's top-1 says little here; its top-5 overlap does (an unrelated
// top-5 out of 50,272 entries would overlap ~0).
const BOUNDS = { int8: { cosine: 0.9995, top1: 1.0, top5: 0.9 }, int4: { cosine: 0.995, top1: 0.5, top5: 0.7 } } as const;

/** A converted fixture's first-step logits against HF's on every case (top-1 flips are printed with HF's margin). */
async function againstHf(folder: string, label: string): Promise<{ worst: number; agree: number; top5: number; total: number }> {
  const model = await Blip2Model.load(folder);
  let agree = 0;
  let total = 0;
  let worst = 1;
  let top5 = 0;
  for (const c of golden.cases) {
    const enc = await model.encodePixels(readF32(`pixel_values/${c.image.replace(/\.[a-z]+$/, '')}.pixel_values.f32.bin`));
    for (const p of golden.prompts) {
      const ref = readF32(c.prompts[p.name].first_step_logits.file);
      const got = await model.firstStepLogits(enc, p.input_ids);
      const r = compareLogits(ref, got);
      if (!r.top1Agrees) {
        const [best] = topK(ref, 1);
        const [pick] = topK(got, 1);
        process.stderr.write(`${label} ${c.image} ${p.name}: top-1 ${pick} vs HF ${best}, HF margin ${ref[best] - ref[pick]}\n`);
      }
      worst = Math.min(worst, r.cosine);
      agree += r.top1Agrees ? 1 : 0;
      top5 += r.top5Overlap;
      total++;
    }
  }
  await model.dispose();
  return { worst, agree, top5, total };
}

for (const quant of ['int8', 'int4'] as const) {
  describe(`${quant} accuracy against HF float32`, () => {
    it('first-step logits stay within the bounds on every case', async () => {
      const out = join(dir, quant);
      await convertCheckpoint(fixturePath('opt'), out, { quant });
      const m = await readManifest(out);
      assert.equal(m.quantization.weights, quant);
      // int8: 8-bit blocks everywhere; int4: 4-bit decoder, image side per-channel int8 with dynamic activations.
      assert.equal(m.quantization.parts.vision?.bits, 8);
      assert.equal(m.quantization.parts.vision?.kernel, quant === 'int4' ? 'DynamicQuantizeMatMul' : undefined);
      assert.equal(m.quantization.parts.decoder?.bits, quant === 'int8' ? 8 : 4);
      const { worst, agree, top5, total } = await againstHf(out, quant);
      process.stderr.write(`${quant}: worst cosine ${worst}, top-1 ${agree}/${total}, mean top-5 overlap ${top5 / total}\n`);
      assert.ok(worst >= BOUNDS[quant].cosine, `worst cosine ${worst}`);
      assert.ok(agree / total >= BOUNDS[quant].top1, `top-1 agreement ${agree}/${total}`);
      assert.ok(top5 / total >= BOUNDS[quant].top5, `mean top-5 overlap ${top5 / total}`);
    });
  });
}

describe('quantized model files', () => {
  it('int4 graphs use int8 (vision) and 4-bit (decoder) kernels and are smaller than fp32', async () => {
    const fp = await convertCheckpoint(fixturePath('opt'), join(dir, 'fp32-size'));
    const q4 = await convertCheckpoint(fixturePath('opt'), join(dir, 'int4-size'), { quant: 'int4' });
    // (The tiny model is dominated by its embedding table and 4 KiB alignment; the vision graph is all projections.)
    const size = (m: typeof fp) => m.files['vision.onnx.data'].bytes;
    assert.ok(size(q4) < size(fp) * 0.7, `int4 vision ${size(q4)} vs fp32 ${size(fp)}`);
    for (const [g, kernel] of [['vision', 'DynamicQuantizeMatMul'], ['qformer', 'DynamicQuantizeMatMul'], ['decoder', 'MatMulNBits']]) {
      const graph = await readFile(join(dir, 'int4-size', `${g}.onnx`), 'latin1');
      assert.ok(graph.includes(kernel), `${g} uses ${kernel}`);
      assert.ok(!graph.includes('.weight.T'), `${g} has no float projection weights left`);
    }
  });

  it('int4 keeps fc2, v_proj and out_proj in 8-bit blocks by default; --int8-projections chooses; all-4-bit is further from HF', async () => {
    const byDefault = await readManifest(join(dir, 'int4'));
    assert.deepEqual(Object.keys(byDefault.quantization.parts).filter((k) => k.startsWith('decoder:')).sort(), ['decoder:fc2', 'decoder:self_attn.out_proj', 'decoder:self_attn.v_proj']);
    const out = join(dir, 'int4-fc2');
    const m = await convertCheckpoint(fixturePath('opt'), out, { quant: 'int4', int8Projections: ['fc2'] });
    assert.equal(m.quantization.parts['decoder:fc2']?.bits, 8);
    assert.equal(m.quantization.parts['decoder:self_attn.v_proj'], undefined);
    assert.equal(m.quantization.parts.decoder?.bits, 4);
    const graph = await readFile(join(out, 'decoder.onnx'), 'latin1');
    assert.ok(graph.includes('layers.0.fc2.weight.q8'), 'fc2 in 8 bits');
    assert.ok(graph.includes('layers.0.fc1.weight.q4') && graph.includes('layers.0.self_attn.v_proj.weight.q4'), 'the rest 4-bit');
    const all4 = join(dir, 'int4-all4');
    await convertCheckpoint(fixturePath('opt'), all4, { quant: 'int4', int8Projections: [] });
    assert.ok(!(await readFile(join(all4, 'decoder.onnx'), 'latin1')).includes('layers.0.fc2.weight.q8'), 'none: every projection 4-bit');
    const plain = (await againstHf(all4, 'int4 all 4-bit')).worst;
    const mixed = (await againstHf(join(dir, 'int4'), 'int4')).worst;
    process.stderr.write(`int4 worst cosine: all projections 4-bit ${plain}, default (fc2, v_proj, out_proj 8-bit) ${mixed}\n`);
    assert.ok(mixed > plain, `${mixed} vs ${plain}`);
    await assert.rejects(convertCheckpoint(fixturePath('opt'), join(dir, 'bad-end'), { quant: 'int4', int8Projections: ['fc3'] }), /no language-model projection's name ends with "fc3"/);
    await assert.rejects(convertCheckpoint(fixturePath('opt'), join(dir, 'bad-int8'), { quant: 'int8', int8Projections: ['fc2'] }), /int4 option/);
  });

  it('a bad block size or quantization is refused clearly', async () => {
    await assert.rejects(convertCheckpoint(fixturePath('opt'), join(dir, 'bad'), { quant: 'int4', blockSize: 24 }), /power of two/);
    await assert.rejects(convertCheckpoint(fixturePath('opt'), join(dir, 'bad'), { quant: 'int3' as never }), /unknown quantization/);
  });
});
