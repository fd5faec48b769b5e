// `match` as a user runs it: convert the retrieval fixture, then score texts against images; the
// numbers are Hugging Face's (itm/golden.json).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixturePath, makeTempDir, readJson } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';

const golden = readJson('itm/golden.json');
let dir: string;
before(async () => {
  dir = await makeTempDir();
  const r = await runCli(['convert', fixturePath('itm'), join(dir, 'itm')]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('photo-assistant match', () => {
  it('--text and --text-ids give HF\'s ITC similarity and ITM probability', async () => {
    const image = fixturePath(`images/${golden.per_image[3].image}`);
    for (const [t, text] of golden.texts.entries()) {
      for (const args of [['--text', text.text], ['--text-ids', text.input_ids.join(',')]]) {
        const r = await runCli(['match', image, '--model', join(dir, 'itm'), '--json', ...args]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.ok(Math.abs(out.itc - golden.itc_similarity.logits_per_image[3][t]) < 1e-4, `itc ${out.itc}`);
        assert.ok(Math.abs(out.itm - golden.itm.rows_images_cols_texts[3][t].prob_match) < 1e-4, `itm ${out.itm}`);
      }
    }
  });

  it('bad input is answered clearly', async () => {
    const image = fixturePath(`images/${golden.per_image[0].image}`);
    const empty = await runCli(['match', image, '--model', join(dir, 'itm'), '--text', '  ']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /the text is empty/);
    const both = await runCli(['match', image, '--model', join(dir, 'itm')]);
    assert.match(both.stderr, /exactly one of --text or --text-ids/);
    const long = await runCli(['match', image, '--model', join(dir, 'itm'), '--json', '--text', 'word '.repeat(2_000)]);
    assert.equal(long.code, 0, long.stderr); // a 10,000-character query is truncated to 32 tokens like HF, not an error
    assert.ok(Number.isFinite(JSON.parse(long.stdout).itm));
    const noImage = await runCli(['match', join(dir, 'missing.jpg'), '--model', join(dir, 'itm'), '--text', 'a cat']);
    assert.equal(noImage.code, 1);
    assert.match(noImage.stderr, /missing\.jpg/);
  });
});
