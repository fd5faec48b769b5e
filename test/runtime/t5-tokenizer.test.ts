// T5's SentencePiece unigram tokenizer from tokenizer.json (a small hand-made one: the fixture has
// none), its use by a converted Flan-T5 folder, and the clear refusal of a folder with only spiece.model.
import assert from 'node:assert/strict';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { loadT5Tokenizer } from '../../src/runtime/tokenizer.ts';
import { fixturePath, makeTempDir, readF32, readJson } from '../helpers/fixtures.ts';

const VOCAB: [string, number][] = [
  ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['▁', -2], ['▁a', -3], ['▁photo', -4], ['▁of', -4], ['▁Question', -5], [':', -3],
  ['▁Answer', -5], ['▁Short', -6], ['▁answer', -5], ['▁what', -5], ['▁is', -4], ['▁it', -4], ['?', -3], ['▁cat', -6], ['.', -3],
];
const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const seq = (id: string) => ({ Sequence: { id, type_id: 0 } });
const eos = { SpecialToken: { id: '</s>', type_id: 0 } };
/** The layout transformers writes for T5TokenizerFast (Unigram, Metaspace, "$A </s>"). */
export const T5_TOKENIZER_JSON = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
  normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  post_processor: {
    type: 'TemplateProcessing', single: [seq('A'), eos], pair: [seq('A'), eos, seq('B'), eos],
    special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
  },
  decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  model: { type: 'Unigram', unk_id: 2, vocab: VOCAB, byte_fallback: false },
};
const TOKENIZER_CONFIG = { eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', model_max_length: 512 };

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

async function t5Checkpoint(name: string, extra: Record<string, string | Uint8Array>): Promise<string> {
  const ck = join(dir, name);
  await mkdir(ck, { recursive: true });
  for (const f of ['config.json', 'model.safetensors', 'generation_config.json', 'preprocessor_config.json']) await cp(fixturePath(`flan_t5/${f}`), join(ck, f));
  for (const [f, body] of Object.entries(extra)) await writeFile(join(ck, f), body);
  return ck;
}

describe('T5 tokenizer', () => {
  it('encodes with </s> appended (an empty text is </s> alone) and decodes without special tokens', async () => {
    const ck = await t5Checkpoint('tok', { 'tokenizer.json': JSON.stringify(T5_TOKENIZER_JSON), 'tokenizer_config.json': JSON.stringify(TOKENIZER_CONFIG) });
    const tok = (await loadT5Tokenizer(ck))!;
    assert.deepEqual(tok.encode('a photo of'), [4, 5, 6, 1]);
    assert.deepEqual(tok.encode(''), [1]);
    assert.deepEqual(tok.specialIds, { eos: 1, pad: 0, unk: 2 });
    assert.equal(tok.decode([4, 16, 17, 1], { skipSpecialTokens: true }), 'a cat.');
  });

  it('a folder with only spiece.model says so, and how to get tokenizer.json', async () => {
    const ck = await t5Checkpoint('spiece', { 'spiece.model': new Uint8Array([10, 3, 1, 2, 3]) });
    await assert.rejects(loadT5Tokenizer(ck), (e: any) => e.code === 'tokenizer_missing' && /spiece\.model/.test(e.message) && /tokenizer\.json/.test(e.message));
    assert.equal(await loadT5Tokenizer(fixturePath('flan_t5')), null);
  });
});

describe('a converted Flan-T5 folder', () => {
  const golden = readJson('flan_t5/golden.json');
  const pixels = () => readF32(`pixel_values/${golden.cases[0].image.replace(/\.[a-z]+$/, '')}.pixel_values.f32.bin`);

  it('with tokenizer.json: text prompts, VQA in the "Short answer:" wording, multi-turn chat', async () => {
    const ck = await t5Checkpoint('with-tok', { 'tokenizer.json': JSON.stringify(T5_TOKENIZER_JSON), 'tokenizer_config.json': JSON.stringify(TOKENIZER_CONFIG) });
    await convertCheckpoint(ck, join(dir, 'm-tok'));
    const model = await Blip2Model.load(join(dir, 'm-tok'));
    try {
      assert.ok(model.tokenizer);
      assert.deepEqual(model.promptIds('a photo of'), [4, 5, 6, 1]);
      assert.deepEqual(model.promptIds(''), [1]);
      assert.deepEqual(model.promptIds(model.language.prompts.question('what is it?')), [7, 8, 12, 13, 14, 15, 10, 11, 8, 1]);
      const enc = await model.encodePixels(pixels());
      const asked = await model.ask(enc, 'what is it?', { maxNewTokens: 4 });
      const direct = await model.generate(enc, [7, 8, 12, 13, 14, 15, 10, 11, 8, 1], { maxNewTokens: 4 });
      assert.deepEqual(asked.tokenIds, direct.tokenIds);
      const chat = await model.chat(enc, [{ question: 'what is it?', answer: 'a cat' }], 'what is it?', { maxNewTokens: 4 });
      const chatIds = model.promptIds('Question: what is it? Answer: a cat. Question: what is it? Answer:');
      assert.deepEqual(chat.tokenIds, (await model.generate(enc, chatIds, { maxNewTokens: 4 })).tokenIds);
      // A free instruction is the encoder's input; the answer is a new sequence, not a continuation.
      const poem = await model.caption(enc, { prompt: 'a photo of', maxNewTokens: 4 });
      assert.deepEqual(poem.tokenIds, (await model.generate(enc, [4, 5, 6, 1], { maxNewTokens: 4 })).tokenIds);
    } finally {
      await model.dispose();
    }
  });

  it('with only spiece.model: loads, runs on token ids, and names the problem for text', async () => {
    const ck = await t5Checkpoint('spiece-only', { 'spiece.model': new Uint8Array([10, 3, 1, 2, 3]) });
    const m = await convertCheckpoint(ck, join(dir, 'm-spiece'));
    assert.ok(m.tokenizer.includes('spiece.model'));
    const model = await Blip2Model.load(join(dir, 'm-spiece'));
    try {
      assert.equal(model.tokenizer, null);
      assert.throws(() => model.promptIds('a photo of'), (e: any) => e.code === 'tokenizer_missing' && /spiece\.model/.test(e.message));
      const r = await model.generate(await model.encodePixels(pixels()), golden.prompts[1].input_ids, { maxNewTokens: 20 });
      assert.deepEqual([0, ...r.tokenIds], golden.cases[0].prompts.question.greedy.sequence);
    } finally {
      await model.dispose();
    }
  });
});
