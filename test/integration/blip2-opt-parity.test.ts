// Our converted BLIP-2 (OPT) against what Hugging Face transformers produced for the tiny
// fixture checkpoint: every stage's tensors, first-step logits, greedy and beam-search ids.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { fixturePath, makeTempDir, maxAbsDiff, readF32, readJson } from '../helpers/fixtures.ts';

const golden = readJson('opt/golden.json');
let dir: string;
let model: Blip2Model;

before(async () => {
  dir = await makeTempDir();
  await convertCheckpoint(fixturePath('opt'), join(dir, 'model'));
  model = await Blip2Model.load(join(dir, 'model'));
});
after(async () => {
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

for (const c of golden.cases) {
  const stem = c.image.replace(/\.[a-z]+$/, '');
  describe(`HF parity on ${c.image}`, () => {
    const pixels = () => readF32(`pixel_values/${stem}.pixel_values.f32.bin`);

    it('vision embeddings, vision output, Q-Former output and projection match', async () => {
      const enc = await model.encodePixels(pixels());
      const checks: [string, ArrayLike<number>, number][] = [
        ['vision_embeddings', enc.visionEmbeddings, 1e-4],
        ['vision_last_hidden_state', enc.imageEmbeds.data as Float32Array, 1e-4],
        ['qformer_query_output', enc.queryOutput, 1e-4],
        ['language_projection', enc.prefix, 1e-4],
      ];
      for (const [key, ours, tol] of checks) {
        const ref = readF32(c[key].file);
        const diff = maxAbsDiff(ours, ref);
        assert.ok(diff <= tol, `${key}: max abs diff ${diff} > ${tol}`);
      }
    });

    for (const p of golden.prompts) {
      const g = c.prompts[p.name];
      it(`prompt "${p.name}": first-step logits within 1e-3`, async () => {
        const enc = await model.encodePixels(pixels());
        const logits = await model.firstStepLogits(enc, p.input_ids);
        const ref = readF32(g.first_step_logits.file);
        assert.equal(logits.length, ref.length);
        const diff = maxAbsDiff(logits, ref);
        assert.ok(diff <= 1e-3, `max abs diff ${diff}`);
        let arg = 0;
        for (let i = 1; i < logits.length; i++) if (logits[i] > logits[arg]) arg = i;
        assert.equal(arg, g.first_step_logits.argmax);
      });

      it(`prompt "${p.name}": greedy ids identical`, async () => {
        const enc = await model.encodePixels(pixels());
        const r = await model.generate(enc, p.input_ids, { maxNewTokens: 20, minNewTokens: 0 });
        assert.deepEqual([2, ...r.tokenIds], g.greedy.sequence);
        assert.equal(r.endedWithEos, g.greedy.ended_with_eos);
        assert.equal(r.text, g.greedy.text.trim());
      });

      it(`prompt "${p.name}": beam search (5 beams) ids and score identical`, async () => {
        const enc = await model.encodePixels(pixels());
        const r = await model.generate(enc, p.input_ids, { maxNewTokens: 20, numBeams: 5, lengthPenalty: 1.0, earlyStopping: false });
        assert.deepEqual([2, ...r.tokenIds], g.beam5.sequence);
        assert.ok(Math.abs((r.score ?? NaN) - g.beam5.sequence_score) < 1e-4, `score ${r.score} vs ${g.beam5.sequence_score}`);
        assert.equal(r.text, g.beam5.text.trim());
      });
    }

    it('decoding and preprocessing the image file itself gives the same greedy caption', async () => {
      const enc = await model.encodeImage(fixturePath(`images/${c.image}`));
      const r = await model.generate(enc, [2], { maxNewTokens: 20 });
      assert.deepEqual([2, ...r.tokenIds], c.prompts.empty.greedy.sequence);
    });
  });
}
