// Low-memory mode (runtime/blip2/model-halves.ts) on the tiny OPT and Flan-T5 checkpoints: one half
// of the model open at a time, the same outputs as with both open, uses that overlap serialized, and
// a half that fails to open reported by file while the other keeps working.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { errorCode } from '../../src/shared/errors.ts';
import { fixturePath, makeTempDir, readF32, readJson } from '../helpers/fixtures.ts';

const golden = readJson('opt/golden.json');
const c = golden.cases[0];
const pixelsOf = (image: string) => readF32(`pixel_values/${image.replace(/\.[a-z]+$/, '')}.pixel_values.f32.bin`);
const pixels = () => pixelsOf(c.image);
const t5Image = readJson('flan_t5/golden.json').cases[0].image as string;
let dir: string;

before(async () => {
  dir = await makeTempDir();
  await convertCheckpoint(fixturePath('opt'), join(dir, 'opt'));
  await convertCheckpoint(fixturePath('flan_t5'), join(dir, 't5'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('low-memory mode', () => {
  it('OPT: a load opens each half once and keeps the image half; switches per use; HF greedy and beam ids', async () => {
    const model = await Blip2Model.load(join(dir, 'opt'), {}, { lowMemory: true });
    try {
      assert.deepEqual(model.halves.loaded, ['image']);
      assert.equal(model.halves.opened, 2, 'the language model was opened (and closed) at load');
      const enc = await model.encodePixels(pixels());
      assert.deepEqual(model.halves.loaded, ['image']);
      const greedy = await model.generate(enc, [2], { maxNewTokens: 20 });
      assert.deepEqual(model.halves.loaded, ['language']);
      assert.deepEqual([2, ...greedy.tokenIds], c.prompts.empty.greedy.sequence);
      const beam5 = { numBeams: 5, maxNewTokens: 20, lengthPenalty: 1, earlyStopping: false } as const;
      const beam = await model.generate(enc, [2], beam5);
      assert.deepEqual([2, ...beam.tokenIds], c.prompts.empty.beam5.sequence);
      assert.equal(model.halves.opened, 3, 'no switch between two generations');
      // Encoding again closes the language model; the next answer opens it again.
      await model.encodePixels(pixels());
      assert.deepEqual(model.halves.loaded, ['image']);
      assert.deepEqual((await model.generate(enc, [2], beam5)).tokenIds, beam.tokenIds);
      assert.equal(model.halves.opened, 5);
    } finally {
      await model.dispose();
    }
    assert.deepEqual(model.halves.loaded, []);
    // Released for good: nothing opens again behind the caller's back.
    await assert.rejects(model.encodePixels(pixels()), (e: Error) => errorCode(e) === 'model_missing');
    assert.deepEqual(model.halves.loaded, []);
  });

  it('OPT: overlapping encodes and generations run one after another, each correct', async () => {
    const resident = await Blip2Model.load(join(dir, 'opt'));
    const model = await Blip2Model.load(join(dir, 'opt'), {}, { lowMemory: true });
    try {
      const enc = await resident.encodePixels(pixels());
      const want = (await resident.generate(enc, [2])).tokenIds;
      const results = await Promise.all([
        model.generate(enc, [2]), model.encodePixels(pixels()), model.generate(enc, [2]), model.encodePixels(pixels()),
      ]);
      assert.deepEqual((results[0] as { tokenIds: number[] }).tokenIds, want);
      assert.deepEqual((results[2] as { tokenIds: number[] }).tokenIds, want);
      assert.deepEqual((results[1] as { prefix: Float32Array }).prefix, enc.prefix);
      assert.deepEqual((results[3] as { prefix: Float32Array }).prefix, enc.prefix);
    } finally {
      await Promise.all([resident.dispose(), model.dispose()]);
    }
  });

  it('a language model that cannot be opened fails with its file named; the image half still works', async () => {
    const model = await Blip2Model.load(join(dir, 'opt'), {}, { lowMemory: true });
    try {
      const enc = await model.encodePixels(pixels());
      // Damaged after the load was verified (a disk error, another program): found when it is opened.
      const decoder = join(dir, 'opt', 'decoder.onnx');
      const saved = await readFile(decoder);
      await writeFile(decoder, 'not an onnx graph');
      try {
        await assert.rejects(model.generate(enc, [2]), (e: Error & { file?: string }) => {
          assert.equal(errorCode(e), 'model_invalid');
          assert.equal(e.file, decoder);
          return true;
        });
        assert.deepEqual(model.halves.loaded, []);
        assert.deepEqual((await model.encodePixels(pixels())).prefix, enc.prefix);
      } finally {
        await writeFile(decoder, saved);
      }
      assert.deepEqual([2, ...(await model.generate(enc, [2], { maxNewTokens: 20 })).tokenIds], c.prompts.empty.greedy.sequence);
    } finally {
      await model.dispose();
    }
  });

  it('Flan-T5: the same answers as with both halves open', async () => {
    const resident = await Blip2Model.load(join(dir, 't5'));
    const model = await Blip2Model.load(join(dir, 't5'), {}, { lowMemory: true });
    try {
      const enc = await model.encodePixels(pixelsOf(t5Image));
      const ids = model.promptIds(undefined);
      for (const opts of [{}, { numBeams: 3 }]) {
        const want = (await resident.generate(await resident.encodePixels(pixelsOf(t5Image)), ids, opts)).tokenIds;
        assert.deepEqual((await model.generate(enc, ids, opts)).tokenIds, want);
      }
      assert.deepEqual(model.halves.loaded, ['language']);
    } finally {
      await Promise.all([resident.dispose(), model.dispose()]);
    }
  });
});
