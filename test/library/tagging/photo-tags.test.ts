// Tags for catalog photos: AI suggestions with provenance and scores, rejected labels never come back
// (and free their slot), the user's tags are untouched, and calibration from the catalog's stored
// embeddings is persisted per model and picked up by the next tagger.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../../src/library/catalog/catalog.ts';
import { calibrationKey } from '../../../src/library/tagging/calibration.ts';
import { applyTags, assignForPhoto, calibrateFromCatalog, loadTagger } from '../../../src/library/tagging/photo-tags.ts';
import { makeTempDir } from '../../helpers/fixtures.ts';
import { FakeEncoder } from './synthetic.ts';

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

function photo(cat: Catalog, n: number): number {
  const folder = cat.folderByPath(dir) ?? cat.addFolder(dir);
  return cat.recordFile({ path: join(dir, `p${n}.jpg`), folderId: folder.id, hash: n.toString(16).padStart(64, '0'), size: 1, mtimeMs: 1 }).photoId;
}

const DOG = 'a photo of a golden retriever';
const BEACH = 'a photo of a beach';
const SURF = 'a photo of a person surfing a wave';

describe('tags for catalog photos', () => {
  it('suggests AI tags; a rejected one never returns and its slot goes to the next best; user tags stay', async () => {
    const cat = Catalog.open(join(dir, 'a.db'));
    const enc = new FakeEncoder();
    const tagger = await loadTagger(cat, enc);
    const id = photo(cat, 1);
    const features = enc.imageNear([DOG, BEACH, SURF]);

    assert.equal(applyTags(cat, id, features, tagger, { topK: 2 }), 2);
    const first = cat.tagsOf(id);
    assert.deepEqual(first.map((t) => [t.provenance, t.state]), [['ai', 'suggested'], ['ai', 'suggested']]);
    assert.ok(first.every((t) => typeof t.score === 'number' && t.score >= 3.5), 'the calibrated score is kept');
    const [best, second] = first.map((t) => t.label);

    cat.rejectTag(id, second);
    cat.addUserTag(id, 'Rex');
    cat.acceptTag(id, best);
    assert.equal(applyTags(cat, id, features, tagger, { topK: 2 }), 1, 'the third label takes the rejected one\'s slot');
    assert.ok(!assignForPhoto(cat, id, features, tagger).some((h) => h.label === second));
    const after = cat.allTags(id);
    assert.equal(after.find((t) => t.label === second)?.state, 'rejected', 'still rejected');
    assert.equal(after.find((t) => t.label === best)?.state, 'accepted', 'still accepted');
    assert.deepEqual(after.find((t) => t.label === 'Rex')?.provenance, 'user');
    assert.deepEqual(new Set(after.map((t) => t.label)), new Set([best, second, 'Rex', ['golden retriever', 'beach', 'surfing'].find((l) => l !== best && l !== second)]));
    // However often the model runs again.
    for (let i = 0; i < 3; i++) applyTags(cat, id, features, tagger);
    assert.equal(cat.allTags(id).find((t) => t.label === second)?.state, 'rejected');
    cat.close();
  });

  it('calibrates on the stored embeddings, persists per model, and the next tagger uses it', async () => {
    const file = join(dir, 'b.db');
    let cat = Catalog.open(file);
    const enc = new FakeEncoder();
    const tagger = await loadTagger(cat, enc);
    assert.equal(tagger.calibration, undefined);
    assert.equal(calibrateFromCatalog(cat, tagger), undefined, 'nothing embedded yet');

    const prompts = tagger.prompts;
    for (let n = 0; n < 40; n++) {
      const id = photo(cat, 100 + n);
      const f = enc.imageNear([prompts[(n * 37) % prompts.length], prompts[(n * 53 + 11) % prompts.length]], n + 1);
      cat.setEmbedding(id, enc.modelId, f, { queries: enc.queries, dim: enc.embedDim });
    }
    const c = calibrateFromCatalog(cat, tagger, { maxImages: 20, now: () => 42 });
    assert.ok(c);
    assert.equal(c.images, 20, 'an even sample of at most maxImages photos');
    assert.equal(c.createdAt, 42);
    assert.equal(c.vocabularyHash, tagger.vocabulary.hash);
    assert.ok(Number.isFinite(c.threshold) && c.threshold > 1, `threshold ${c.threshold}`);
    assert.equal(tagger.calibration, c, 'the tagger switches to it at once');
    cat.close();

    cat = Catalog.open(file);
    const next = await loadTagger(cat, new FakeEncoder());
    assert.deepEqual(next.calibration, c);
    assert.equal(next.embedded, 0);
    assert.equal((await loadTagger(cat, new FakeEncoder('another:fp32:1'))).calibration, undefined, 'per model');
    assert.ok(cat.getSetting(calibrationKey(enc.modelId)));
    // A calibrated tagger still finds what a photo plainly shows.
    const hits = next.assign(enc.imageNear([DOG, BEACH], 999)).map((h) => h.label);
    assert.deepEqual(hits.slice(0, 2).sort(), ['beach', 'golden retriever']);
    cat.close();
  });
});
