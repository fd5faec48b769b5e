// `tags`, `vocabulary` and `calibrate-tags` as a user runs them, on the converted tiny retrieval
// fixture: JSON and text output, top-k and threshold, the text-vector cache (file, or the catalog with
// --db) so a second run embeds nothing, the user's vocabulary, a bad image among good ones, and the
// reported similarity equal to `match`'s ITC for the same prompt.
import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { LocalRetrievalEncoder } from '../../src/runtime/blip2/retrieval-encoder.ts';
import { PHOTOS, fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';
import { sqlOf } from '../helpers/catalog-sql.ts';

let dir: string;
let model: string;
const coffee = join(PHOTOS, 'coffee.jpg');
const cat = join(PHOTOS, 'chelsea.jpg');
const EMBEDDING = /embedding (\d+) tag prompt\(s\)/;

before(async () => {
  dir = await makeTempDir();
  process.env.PHOTO_ASSISTANT_TEXT_CACHE = join(dir, 'text-cache'); // inherited by the CLI child processes
  model = join(dir, 'itm');
  const r = await runCli(['convert', fixturePath('itm'), model]);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  delete process.env.PHOTO_ASSISTANT_TEXT_CACHE;
  await rm(dir, { recursive: true, force: true });
});

const lines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('photo-assistant tags', () => {
  it('tags each image (JSON lines), embeds the vocabulary once, then reads it from the cache file', async () => {
    const first = await runCli(['tags', coffee, cat, '--model', model, '--json', '--threshold', '0']);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(Number(EMBEDDING.exec(first.stderr)?.[1]) > 900, first.stderr);
    const out = lines(first.stdout);
    assert.deepEqual(out.map((o) => o.path), [coffee, cat]);
    for (const o of out) {
      assert.equal(o.tags.length, 10, 'top-k defaults to 10');
      for (const t of o.tags) assert.ok(typeof t.label === 'string' && t.score >= 0 && Number.isFinite(t.similarity), JSON.stringify(t));
      assert.deepEqual(o.tags.map((t: { score: number }) => t.score), [...o.tags.map((t: { score: number }) => t.score)].sort((a, b) => b - a));
    }
    assert.equal((await readdir(join(dir, 'text-cache'))).length, 1);

    const second = await runCli(['tags', coffee, '--model', model, '--json', '--threshold', '0', '--top-k', '3']);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, EMBEDDING, 'warm cache: nothing embedded');
    assert.deepEqual(lines(second.stdout)[0].tags, out[0].tags.slice(0, 3));
  });

  it('prints "path: label (score), …" and reports the similarity `match` computes', async () => {
    const r = await runCli(['tags', coffee, '--model', model, '--threshold', '-100', '--top-k', '2000', '--json']);
    const dog = lines(r.stdout)[0].tags.find((t: { label: string }) => t.label === 'dog');
    const m = await runCli(['match', coffee, '--model', model, '--text', 'a photo of a dog', '--json']);
    assert.ok(Math.abs(dog.similarity - JSON.parse(m.stdout).itc) < 1e-3, `${dog.similarity} vs ${m.stdout}`);

    const text = await runCli(['tags', coffee, '--model', model, '--threshold', '0', '--top-k', '2']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${coffee.replace(/[.]/g, '\\.')}: [a-z0-9 '-]+ \\(\\d+\\.\\d\\d\\), [a-z0-9 '-]+ \\(\\d+\\.\\d\\d\\)\\n$`));
  });

  it('a corrupt image among good ones is named while the others are tagged (exit 1)', async () => {
    const bad = join(dir, 'broken.jpg');
    await writeFile(bad, 'not a jpeg at all');
    const r = await runCli(['tags', coffee, bad, cat, '--model', model, '--json', '--threshold', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /broken\.jpg/);
    assert.match(r.stderr, /1 of 3 image\(s\) failed/);
    const out = lines(r.stdout);
    assert.deepEqual(out.map((o) => o.path), [coffee, bad, cat]);
    assert.equal(out[1].error.code, 'photo_unreadable');
    assert.equal(out[2].tags.length, 10);
  });

  it('with --db: the user\'s vocabulary joins in, text vectors are cached in the catalog', async () => {
    const db = join(dir, 'catalog.db');
    const add = await runCli(['vocabulary', 'add', 'our sailboat', '--db', db, '--prompt', 'a photo of a red sailboat named Aurora', '--category', 'vehicle']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /added "our sailboat" \(vehicle\): a photo of a red sailboat named Aurora/);
    const list = await runCli(['vocabulary', 'list', '--db', db, '--json']);
    assert.deepEqual(lines(list.stdout).map((e) => e.label), ['our sailboat']);

    const first = await runCli(['tags', coffee, '--model', model, '--db', db, '--json', '--threshold', '-100', '--top-k', '5000']);
    assert.equal(first.code, 0, first.stderr);
    const labels = lines(first.stdout)[0].tags.map((t: { label: string }) => t.label);
    assert.ok(labels.includes('our sailboat'));
    assert.ok(Number(EMBEDDING.exec(first.stderr)?.[1]) > 900, 'the catalog cache starts empty');
    const second = await runCli(['tags', coffee, '--model', model, '--db', db, '--threshold', '0']);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, EMBEDDING);
    assert.match(second.stderr, /no tag calibration for this model/);
    const c = Catalog.open(db);
    assert.equal((sqlOf(c).prepare('SELECT count(*) AS n FROM text_embeddings').get() as { n: number }).n, labels.length);
    c.close();

    const rm1 = await runCli(['vocabulary', 'remove', 'Our Sailboat', '--db', db]);
    assert.equal(rm1.code, 0, rm1.stderr);
    const rm2 = await runCli(['vocabulary', 'remove', 'our sailboat', '--db', db]);
    assert.equal(rm2.code, 2);
    assert.match(rm2.stderr, /not one of your vocabulary entries/);
  });

  it('calibrate-tags learns thresholds from the catalog\'s embeddings', async () => {
    const db = join(dir, 'calibrate.db');
    const enc = await LocalRetrievalEncoder.load(model);
    const c = Catalog.open(db);
    const folder = c.addFolder(PHOTOS);
    for (const [i, name] of ['coffee.jpg', 'chelsea.jpg', 'astronaut.jpg', 'rocket.jpg'].entries()) {
      const { photoId } = c.recordFile({ path: join(PHOTOS, name), folderId: folder.id, hash: String(i).repeat(64), size: 1, mtimeMs: 1 });
      c.setEmbedding(photoId, enc.modelId, await enc.embedImage(join(PHOTOS, name)), { queries: enc.queries, dim: enc.embedDim });
    }
    c.close();
    await enc.dispose();
    const r = await runCli(['calibrate-tags', '--db', db, '--model', model]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /calibrated \d+ tag prompts on 4 photo\(s\): threshold \d+\.\d\d/);
    const t = await runCli(['tags', coffee, '--model', model, '--db', db]);
    assert.equal(t.code, 0, t.stderr);
    assert.doesNotMatch(t.stderr, /no tag calibration/);
  });

  it('bad flags and a missing catalog are answered clearly', async () => {
    const topK = await runCli(['tags', coffee, '--model', model, '--top-k', '0']);
    assert.equal(topK.code, 2);
    assert.match(topK.stderr, /--top-k must be a whole number ≥ 1/);
    const threshold = await runCli(['tags', coffee, '--model', model, '--threshold', 'high']);
    assert.match(threshold.stderr, /--threshold must be a number/);
    const noDb = await runCli(['tags', coffee, '--model', model, '--db', join(dir, 'nope.db')]);
    assert.equal(noDb.code, 2);
    assert.match(noDb.stderr, /nope\.db: no catalog at this path/);
  });
});
