// The CLI as a user runs it: convert the fixture checkpoint, then caption and ask with JSON output.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixturePath, makeTempDir, readJson } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';

const golden = readJson('opt/golden.json');
let dir: string;
let model: string;

before(async () => {
  dir = await makeTempDir();
  model = join(dir, 'model');
  const r = await runCli(['convert', fixturePath('opt'), model]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /converted Blip2ForConditionalGeneration/);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('photo-assistant CLI', () => {
  it('converting into an existing folder is refused without --force', async () => {
    const r = await runCli(['convert', fixturePath('opt'), model]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already exists.*--force/);
  });

  it('caption --json prints one object per image with HF greedy ids', async () => {
    const images = golden.cases.filter((c: any) => c.image.endsWith('.png')).map((c: any) => fixturePath(`images/${c.image}`));
    const r = await runCli(['caption', ...images, '--model', model, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, images.length);
    for (const [i, line] of lines.entries()) {
      const c = golden.cases.find((x: any) => images[i].endsWith(x.image));
      assert.equal(line.image, images[i]);
      assert.deepEqual([2, ...line.tokenIds], c.prompts.empty.greedy.sequence);
      assert.equal(line.text, c.prompts.empty.greedy.text.trim());
    }
  });

  it('caption --prompt-ids with beam search matches HF beam5 ids', async () => {
    const c = golden.cases[0];
    const p = golden.prompts.find((x: any) => x.name === 'question');
    const r = await runCli(['caption', fixturePath(`images/${c.image}`), '--model', model, '--json', '--prompt-ids', p.input_ids.join(','), '--num-beams', '5']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([2, ...JSON.parse(r.stdout).tokenIds], c.prompts.question.beam5.sequence);
  });

  it('--prompt text is tokenized like HF (same ids as --prompt-ids)', async () => {
    const c = golden.cases[0];
    const img = fixturePath(`images/${c.image}`);
    const r = await runCli(['caption', img, '--model', model, '--json', '--prompt', 'Question: what is in the picture? Answer:']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([2, ...JSON.parse(r.stdout).tokenIds], c.prompts.question.greedy.sequence);
  });

  it('ask uses the "Question: … Answer:" prompt', async () => {
    const c = golden.cases[0];
    const r = await runCli(['ask', fixturePath(`images/${c.image}`), 'what is in the picture?', '--model', model, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([2, ...JSON.parse(r.stdout).tokenIds], c.prompts.question.greedy.sequence);
  });

  it('a corrupt image among good ones: others still captioned, exit non-zero, file named', async () => {
    const bad = join(dir, 'broken.jpg');
    await writeFile(bad, 'this is not a jpeg');
    const good = join(dir, 'good.png');
    await copyFile(fixturePath(`images/${golden.cases[0].image}`), good);
    const r = await runCli(['caption', good, bad, good, '--model', model, '--json', '--max-new-tokens', '3']);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.equal(lines[0].tokenIds.length, 3);
    assert.equal(lines[1].error.code, 'photo_unreadable');
    assert.equal(lines[2].tokenIds.length, 3);
    assert.match(r.stderr, /broken\.jpg/);
  });

  it('caption --low-memory: the same ids in input order, a corrupt image reported among the batch', async () => {
    const bad = join(dir, 'broken-low.jpg');
    await writeFile(bad, 'this is not a jpeg');
    // 19 inputs: more than one batch of 16 encodings.
    const images = Array.from({ length: 17 }, (_, i) => fixturePath(`images/${golden.cases[i % golden.cases.length].image}`));
    const r = await runCli(['caption', images[0], bad, ...images, '--model', model, '--json', '--low-memory', '--max-new-tokens', '20']);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.image), [images[0], bad, ...images]);
    assert.equal(lines[1].error.code, 'photo_unreadable');
    for (const line of lines.filter((l) => !l.error)) {
      const c = golden.cases.find((x: any) => line.image.endsWith(x.image));
      assert.deepEqual([2, ...line.tokenIds], c.prompts.empty.greedy.sequence, line.image);
    }
    assert.match(r.stderr, /broken-low\.jpg/);
  });

  it('plain output prints readable captions; bad flags and missing models fail clearly', async () => {
    const img = fixturePath(`images/${golden.cases[0].image}`);
    const ok = await runCli(['caption', img, '--model', model, '--max-new-tokens', '5']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ok.stdout.trim().length > 0);
    const badFlag = await runCli(['caption', img, '--model', model, '--num-beams', '0']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--num-beams must be a whole number/);
    const noModel = await runCli(['caption', img, '--model', join(dir, 'nowhere')]);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /not a converted model folder/);
    assert.ok(!existsSync(join(dir, 'nowhere')));
  });
});
