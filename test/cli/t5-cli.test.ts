// The CLI unchanged on a converted Flan-T5 folder: convert, caption (--prompt-ids as given, </s>
// included; --json tokenIds = the ids after the decoder start token), ask, and bad input.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixturePath, makeTempDir, readJson } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';

const golden = readJson('flan_t5/golden.json');
let dir: string;
let model: string;

before(async () => {
  dir = await makeTempDir();
  model = join(dir, 'model');
  const r = await runCli(['convert', fixturePath('flan_t5'), model]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /converted Blip2ForConditionalGeneration \(t5, 2 layers, vocab 32128, fp32\)/);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('photo-assistant CLI on a Flan-T5 model', () => {
  it('caption --json: HF greedy ids after the decoder start, one line per image; no prompt means </s>', async () => {
    const images = golden.cases.slice(0, 2).map((c: any) => fixturePath(`images/${c.image}`));
    const r = await runCli(['caption', ...images, '--model', model, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    lines.forEach((line, i) => assert.deepEqual([0, ...line.tokenIds], golden.cases[i].prompts.empty.greedy.sequence));
  });

  it('caption --prompt-ids (</s> included) with beam search matches HF beam5 ids', async () => {
    const c = golden.cases[3];
    const p = golden.prompts.find((x: any) => x.name === 'question');
    const r = await runCli(['caption', fixturePath(`images/${c.image}`), '--model', model, '--json', '--prompt-ids', p.input_ids.join(','), '--num-beams', '5']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([0, ...JSON.parse(r.stdout).tokenIds], c.prompts.question.beam5.sequence);
  });

  it('without a tokenizer: ask and --prompt say what is missing; plain captions say why there is no text', async () => {
    const img = fixturePath(`images/${golden.cases[0].image}`);
    const ask = await runCli(['ask', img, 'what is it?', '--model', model, '--json']);
    assert.equal(ask.code, 1);
    assert.equal(JSON.parse(ask.stdout).error.code, 'tokenizer_missing');
    const prompt = await runCli(['caption', img, '--model', model, '--prompt', 'a photo of']);
    assert.equal(prompt.code, 1);
    assert.match(prompt.stderr, /no tokenizer files.*token ids/);
    const plain = await runCli(['caption', img, '--model', model, '--max-new-tokens', '2']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /no tokenizer files.*--json/);
  });

  it('an over-long --prompt-ids is a usage error (exit 1 per image, invalid_argument)', async () => {
    const ids = [...Array.from({ length: 600 }, (_, i) => 100 + i), 1].join(',');
    const r = await runCli(['caption', fixturePath(`images/${golden.cases[0].image}`), '--model', model, '--json', '--prompt-ids', ids]);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'invalid_argument');
  });
});
