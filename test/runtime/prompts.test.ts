// BLIP-2 task prompts (SPEC-blip2.md §7) and a model without tokenizer files.
import assert from 'node:assert/strict';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { chatPrompt, questionPrompt } from '../../src/runtime/blip2/prompts.ts';
import { fixturePath, makeTempDir, readF32, readJson } from '../helpers/fixtures.ts';

describe('prompts', () => {
  it('VQA uses "Question: {q} Answer:"', () => {
    assert.equal(questionPrompt(' what is in the picture? '), 'Question: what is in the picture? Answer:');
  });

  it('chat joins earlier turns as "Question: q Answer: a." then asks the new question', () => {
    assert.equal(chatPrompt([], 'what is it?'), 'Question: what is it? Answer:');
    assert.equal(
      chatPrompt([{ question: 'what is it?', answer: 'a cat' }, { question: 'what colour?', answer: 'grey.' }], 'is it asleep?'),
      'Question: what is it? Answer: a cat. Question: what colour? Answer: grey. Question: is it asleep? Answer:',
    );
  });
});

describe('a checkpoint without tokenizer files', () => {
  let dir: string;
  let model: Blip2Model;
  const golden = readJson('opt/golden.json');
  before(async () => {
    dir = await makeTempDir();
    const ck = join(dir, 'ck');
    for (const f of ['config.json', 'model.safetensors', 'generation_config.json', 'preprocessor_config.json']) await cp(fixturePath(`opt/${f}`), join(ck, f));
    await convertCheckpoint(ck, join(dir, 'm'));
    model = await Blip2Model.load(join(dir, 'm'));
  });
  after(async () => {
    await model?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('still generates from raw token ids (no text)', async () => {
    const c = golden.cases[0];
    const enc = await model.encodePixels(readF32(`pixel_values/${c.image.replace(/\.[a-z]+$/, '')}.pixel_values.f32.bin`));
    const r = await model.caption(enc, { maxNewTokens: 20 });
    assert.deepEqual([2, ...r.tokenIds], c.prompts.empty.greedy.sequence);
    assert.equal(r.text, '');
    assert.equal(model.tokenizer, null);
  });

  it('a text prompt is refused with a clear error', async () => {
    assert.throws(() => model.promptIds('a photo of'), (e: any) => e.code === 'tokenizer_missing' && /token ids/.test(e.message));
  });
});
