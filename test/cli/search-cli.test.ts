// `search` as a user runs it, on a real catalog: `index --retrieval-model` embeds the photos with the
// tiny retrieval fixture (real ONNX Runtime, in the worker), then search / --rerank / --like / filters
// run in a child process. Scores are checked against the same model run in-process here.
import assert from 'node:assert/strict';
import { cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { LocalRetrievalEncoder } from '../../src/runtime/blip2/retrieval-encoder.ts';
import { PHOTOS, fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';

let dir: string;
let photos: string;
let captioner: string;
let retrieval: string;
let db: string;
let encoder: LocalRetrievalEncoder;
const files = { 'trips/chelsea.jpg': 'chelsea.jpg', 'trips/rocket.jpg': 'rocket.jpg', 'home/coffee.jpg': 'coffee.jpg', 'home/astronaut.jpg': 'astronaut.jpg' };

before(async () => {
  dir = await makeTempDir();
  captioner = join(dir, 'opt');
  retrieval = join(dir, 'itm');
  await convertCheckpoint(fixturePath('opt'), captioner);
  await convertCheckpoint(fixturePath('itm'), retrieval);
  photos = join(dir, 'photos');
  for (const [to, from] of Object.entries(files)) {
    await mkdir(join(photos, to, '..'), { recursive: true });
    await cp(join(PHOTOS, from), join(photos, to));
  }
  db = join(dir, 'cat.db');
  const r = await runCli(['index', photos, '--db', db, '--model', captioner, '--retrieval-model', retrieval, '--max-new-tokens', '4', '--xmp', 'off']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /4 photo\(s\) searchable/);
  encoder = await LocalRetrievalEncoder.load(retrieval);
});
after(async () => {
  await encoder?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const lines = (s: string) => s.trim().split('\n').filter(Boolean);
const jsonLines = (s: string) => lines(s).map((l) => JSON.parse(l));
function itcOf(img: Float32Array, text: Float32Array): number {
  let best = -Infinity;
  for (let q = 0; q < encoder.queries; q++) {
    let d = 0;
    for (let i = 0; i < encoder.embedDim; i++) d += img[q * encoder.embedDim + i] * text[i];
    best = Math.max(best, d);
  }
  return best;
}

describe('photo-assistant search', () => {
  it('ranks every photo by ITC, as the model computes it (int8 storage within 5e-3), best first', async () => {
    const r = await runCli(['search', 'a cat lying on a couch', '--db', db, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const hits = jsonLines(r.stdout);
    assert.equal(hits.length, 4);
    const [text] = await encoder.embedTexts(['a cat lying on a couch']);
    for (const h of hits) {
      assert.ok(h.path.startsWith(photos) && typeof h.caption === 'string' && Number.isInteger(h.photoId), JSON.stringify(h));
      const want = itcOf(await encoder.embedImage(h.path), text);
      assert.ok(Math.abs(h.score - want) < 5e-3, `${h.path}: ${h.score} vs ${want}`);
    }
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score);
    // The setting index wrote is what search used; the text vector is cached in the catalog.
    const cat = Catalog.open(db);
    assert.equal(cat.getSetting('retrievalModelDir'), retrieval);
    assert.ok(cat.textEmbeddings(encoder.modelId, ['a cat lying on a couch']).has('a cat lying on a couch'));
    cat.close();

    const text2 = await runCli(['search', 'a cat lying on a couch', '--db', db, '--limit', '2']);
    assert.equal(text2.code, 0, text2.stderr);
    const out = lines(text2.stdout);
    assert.equal(out.length, 2);
    assert.match(out[0], new RegExp(`^-?\\d\\.\\d{4}  ${hits[0].path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  ${hits[0].caption}`));
  });

  it('--rerank orders by the ITM probability of each photo', async () => {
    const r = await runCli(['search', 'a rocket launch', '--db', db, '--json', '--rerank']);
    assert.equal(r.code, 0, r.stderr);
    const hits = jsonLines(r.stdout);
    assert.equal(hits.length, 4);
    for (const h of hits) {
      const [p] = await encoder.itm(h.path, ['a rocket launch']);
      assert.ok(Math.abs(h.itm - p) < 1e-4, `${h.path}: itm ${h.itm} vs ${p}`);
    }
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].itm >= hits[i].itm);
    const top1 = jsonLines((await runCli(['search', 'a rocket launch', '--db', db, '--json', '--rerank-top', '1'])).stdout);
    assert.equal(top1.filter((h) => h.itm !== undefined).length, 1);
  });

  it('filters: --folder, --caption-contains, --tag, --from/--to; filters alone browse; --like lists neighbours', async () => {
    const trips = jsonLines((await runCli(['search', 'a photo', '--db', db, '--json', '--folder', join(photos, 'trips')])).stdout);
    assert.deepEqual(trips.map((h) => h.path).sort(), [join(photos, 'trips/chelsea.jpg'), join(photos, 'trips/rocket.jpg')]);
    const someCaption: string = trips[0].caption;
    const word = someCaption.split(' ').find((w) => w.length > 2) ?? someCaption;
    const byCaption = jsonLines((await runCli(['search', 'a photo', '--db', db, '--json', '--caption-contains', word.toUpperCase()])).stdout);
    assert.ok(byCaption.length >= 1 && byCaption.every((h) => h.caption.toLowerCase().includes(word.toLowerCase())));
    const tagged = await runCli(['search', 'a photo', '--db', db, '--json', '--tag', 'nonexistent']);
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.equal(tagged.stdout.trim(), '');
    const untagged = jsonLines((await runCli(['search', 'a photo', '--db', db, '--json', '--without-tag', 'nonexistent', '--from', '1900', '--to', '2999-12'])).stdout);
    assert.equal(untagged.length, 4);

    const browse = await runCli(['search', '--db', db, '--json', '--folder', join(photos, 'home')]);
    assert.equal(browse.code, 0, browse.stderr);
    assert.deepEqual(jsonLines(browse.stdout).map((h) => h.path).sort(), [join(photos, 'home/astronaut.jpg'), join(photos, 'home/coffee.jpg')]);

    const like = await runCli(['search', '--db', db, '--json', '--like', join(photos, 'home/coffee.jpg')]);
    assert.equal(like.code, 0, like.stderr);
    const neighbours = jsonLines(like.stdout);
    assert.equal(neighbours.length, 3);
    assert.ok(!neighbours.some((h) => h.path.endsWith('coffee.jpg')));
    const likeId = await runCli(['search', '--db', db, '--json', '--like', String(neighbours[0].photoId), '--limit', '1']);
    assert.equal(jsonLines(likeId.stdout).length, 1);
  });

  it('bad input: empty query, long query, unknown catalog, no model configured, photo without embedding', async () => {
    const empty = await runCli(['search', '   ', '--db', db]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /the search query is empty/);
    const long = await runCli(['search', 'cat '.repeat(2_500), '--db', db, '--json', '--limit', '1']);
    assert.equal(long.code, 0, long.stderr);
    assert.equal(jsonLines(long.stdout).length, 1);
    const nothing = await runCli(['search', '--db', db]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /give a query, --like <photo> or at least one filter/);
    const both = await runCli(['search', 'cat', '--db', db, '--like', '1']);
    assert.equal(both.code, 2);
    const badDate = await runCli(['search', 'cat', '--db', db, '--from', 'last week']);
    assert.equal(badDate.code, 2);
    assert.match(badDate.stderr, /dateFrom "last week" is not a date/);
    const badLimit = await runCli(['search', 'cat', '--db', db, '--limit', '0']);
    assert.equal(badLimit.code, 2);
    const noDb = await runCli(['search', 'cat', '--db', join(dir, 'nope.db')]);
    assert.equal(noDb.code, 2);
    assert.match(noDb.stderr, /nope\.db/);

    // A catalog that was never indexed with a retrieval model.
    const bare = join(dir, 'bare.db');
    const cat = Catalog.open(bare);
    const folder = cat.addFolder(photos);
    const { photoId } = cat.recordFile({ path: join(photos, 'home/coffee.jpg'), folderId: folder.id, hash: 'x', size: 1, mtimeMs: 1 });
    cat.close();
    const noModel = await runCli(['search', 'cat', '--db', bare]);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /no retrieval model configured for this catalog; run index with --retrieval-model or pass --model/);
    const notYet = await runCli(['search', '--db', bare, '--like', String(photoId), '--model', retrieval]);
    assert.equal(notYet.code, 2);
    assert.match(notYet.stderr, new RegExp(`photo ${photoId} has no embedding yet \\(it is still queued for analysis\\)`));
    const unknownPath = await runCli(['search', '--db', bare, '--like', join(dir, 'elsewhere.jpg'), '--model', retrieval]);
    assert.equal(unknownPath.code, 2);
    assert.match(unknownPath.stderr, /not in the catalog/);
    const withModel = await runCli(['search', 'cat', '--db', bare, '--model', retrieval]);
    assert.equal(withModel.code, 0, withModel.stderr);
    assert.match(withModel.stderr, /1 photo\(s\) are not searchable yet/);
  });
});
