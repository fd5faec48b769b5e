// `index --retrieval-model` as a user runs it: every photo gets its caption, query vectors and AI tag
// suggestions in the same run, the tags reach the XMP sidecar's dc:subject, a rejected tag leaves
// the sidecar on the next run and never comes back, and a second run embeds nothing again.
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { readSidecar } from '../../src/library/xmp/index.ts';
import { PHOTOS, fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';
import { sqlOf } from '../helpers/catalog-sql.ts';

let dir: string;
let photos: string;
let captioner: string;
let retrieval: string;
let db: string;
const names = ['chelsea.jpg', 'rocket.jpg', 'coffee.jpg'];

before(async () => {
  dir = await makeTempDir();
  captioner = join(dir, 'opt');
  retrieval = join(dir, 'itm');
  await convertCheckpoint(fixturePath('opt'), captioner);
  await convertCheckpoint(fixturePath('itm'), retrieval);
  photos = join(dir, 'photos');
  await mkdir(photos, { recursive: true });
  for (const n of names) await cp(join(PHOTOS, n), join(photos, n));
  db = join(dir, 'sqlOf(cat)');
});
after(() => rm(dir, { recursive: true, force: true }));

const index = () => runCli(['index', photos, '--db', db, '--model', captioner, '--retrieval-model', retrieval, '--max-new-tokens', '4']);

describe('photo-assistant index --retrieval-model', () => {
  it('captions, embeds and tags every photo in one run; AI tags reach dc:subject', async () => {
    const r = await index();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /3 photo\(s\) searchable/);
    const cat = Catalog.open(db);
    try {
      let tagged = 0;
      for (const n of names) {
        const id = cat.fileByPath(join(photos, n))!.photoId;
        assert.ok(cat.currentCaption(id), `${n} captioned`);
        // After the end-of-run calibration a photo may keep no tag (random tiny weights: nothing near).
        const tags = cat.tagsOf(id);
        if (tags.length) tagged++;
        assert.ok(tags.every((t) => t.provenance === 'ai' && t.state === 'suggested' && typeof t.score === 'number'));
        const side = await readSidecar(join(photos, `${n}.xmp`));
        assert.deepEqual([...side.subjects].sort(), tags.map((t) => t.label).sort(), `${n}: sidecar subjects are the photo's tags`);
        assert.equal(side.description, cat.currentCaption(id)!.text);
      }
      assert.ok(tagged >= 1, 'some photo has AI tags');
    } finally {
      cat.close();
    }
  });

  it('a rejected tag leaves the sidecar and never returns; nothing is embedded twice', async () => {
    let cat = Catalog.open(db);
    const path = names.map((n) => join(photos, n)).find((p) => cat.tagsOf(cat.fileByPath(p)!.photoId).length > 0)!;
    const id = cat.fileByPath(path)!.photoId;
    const label = cat.tagsOf(id)[0].label;
    cat.rejectTag(id, label);
    const before = sqlOf(cat).prepare('SELECT photo_id, created_at FROM embeddings ORDER BY photo_id').all();
    cat.close();

    const r = await index();
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /analysed for search/, 'no photo needed vectors again');
    cat = Catalog.open(db);
    try {
      assert.deepEqual(sqlOf(cat).prepare('SELECT photo_id, created_at FROM embeddings ORDER BY photo_id').all(), before);
      assert.ok(!cat.tagsOf(id).some((t) => t.label.toLowerCase() === label.toLowerCase()));
      assert.equal(cat.allTags(id).find((t) => t.label.toLowerCase() === label.toLowerCase())?.state, 'rejected');
      const side = await readFile(`${path}.xmp`, 'utf8');
      assert.ok(!side.includes(`<rdf:li>${label}</rdf:li>`), 'the rejected keyword is gone from the sidecar');
    } finally {
      cat.close();
    }
  });

  it('later runs without --retrieval-model use the model recorded for the catalog; a vanished one is reported', async () => {
    await cp(join(PHOTOS, 'astronaut.jpg'), join(photos, 'astronaut.jpg'));
    const r = await runCli(['index', photos, '--db', db, '--model', captioner, '--max-new-tokens', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /4 photo\(s\) searchable/);
    let cat = Catalog.open(db);
    const id = cat.fileByPath(join(photos, 'astronaut.jpg'))!.photoId;
    assert.ok(cat.currentCaption(id));
    const { model_id: modelId } = sqlOf(cat).prepare('SELECT model_id FROM embeddings LIMIT 1').get() as { model_id: string };
    assert.ok(cat.hasEmbedding(id, modelId), 'the new photo got its vectors from the recorded model');
    cat.close();

    await rename(retrieval, `${retrieval}-moved`);
    try {
      await cp(join(PHOTOS, 'hubble_deep_field.jpg'), join(photos, 'hubble.jpg'));
      const gone = await runCli(['index', photos, '--db', db, '--model', captioner, '--max-new-tokens', '4']);
      assert.equal(gone.code, 0, gone.stderr);
      assert.match(gone.stderr, /the retrieval model recorded for this catalog is gone \(.*itm\); photos are captioned but not made searchable/);
      cat = Catalog.open(db);
      assert.ok(cat.currentCaption(cat.fileByPath(join(photos, 'hubble.jpg'))!.photoId), 'still captioned');
      cat.close();
    } finally {
      await rename(`${retrieval}-moved`, retrieval);
    }
  });
});
