// The tagger: vocabulary text vectors computed once per model and then read from the cache (catalog
// or file), and the assignment rule (threshold, top-k, minimum with a floor, excluded labels).
import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../../src/library/catalog/catalog.ts';
import { photoZScores } from '../../../src/library/tagging/calibration.ts';
import { Tagger } from '../../../src/library/tagging/tagger.ts';
import { FileTextCache, cachedTextVectors, catalogTextCache } from '../../../src/library/tagging/text-embedding-cache.ts';
import { addVocabularyEntry, loadVocabulary, makeVocabulary } from '../../../src/library/tagging/vocabulary.ts';
import { makeTempDir } from '../../helpers/fixtures.ts';
import { FakeEncoder } from './synthetic.ts';

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

const embeddedCount = (e: FakeEncoder) => e.calls.reduce((n, c) => n + c.length, 0);

describe('text vectors are computed once per model', () => {
  it('catalog cache: a second run embeds nothing, a new user entry only itself, another model everything', async () => {
    const file = join(dir, 'cache.db');
    let cat = Catalog.open(file);
    const enc = new FakeEncoder();
    const first = await Tagger.create(loadVocabulary(cat), enc, { cache: catalogTextCache(cat) });
    const prompts = new Set(first.prompts).size;
    assert.equal(first.embedded, prompts);
    assert.equal(embeddedCount(enc), prompts);
    cat.close();

    cat = Catalog.open(file); // a later run
    const again = new FakeEncoder();
    const second = await Tagger.create(loadVocabulary(cat), again, { cache: catalogTextCache(cat) });
    assert.equal(second.embedded, 0);
    assert.deepEqual(again.calls, [], 'the model is not asked at all');
    assert.deepEqual(second.textVectors[5], again.vectorOf(second.prompts[5]), 'cached vectors are the model\'s');

    addVocabularyEntry(cat, { label: 'our sailboat', prompt: 'a photo of a red sailboat named Aurora' });
    const third = await Tagger.create(loadVocabulary(cat), again, { cache: catalogTextCache(cat) });
    assert.equal(third.embedded, 1);
    assert.deepEqual(again.calls, [['a photo of a red sailboat named Aurora']]);

    const other = new FakeEncoder('other:int8:2', 64);
    assert.equal((await Tagger.create(loadVocabulary(cat), other, { cache: catalogTextCache(cat) })).embedded, prompts + 1);
    cat.close();
  });

  it('file cache (the CLI without a catalog): warm on the second run, rebuilt when unreadable', async () => {
    const cacheDir = join(dir, 'text-cache');
    const vocab = loadVocabulary();
    const enc = new FakeEncoder('itm-fixture:fp32:2024-01-01T00:00:00Z');
    assert.equal((await Tagger.create(vocab, enc, { cache: new FileTextCache(cacheDir) })).embedded, vocab.entries.length);
    const files = await readdir(cacheDir);
    assert.equal(files.length, 1);
    assert.match(files[0], /^itm-fixture_fp32_2024-01-01T00_00_00Z-[0-9a-f]{12}\.bin$/);

    const warm = new FakeEncoder(enc.modelId);
    const t = await Tagger.create(vocab, warm, { cache: new FileTextCache(cacheDir) });
    assert.equal(t.embedded, 0);
    assert.deepEqual(t.textVectors.at(-1), warm.vectorOf(vocab.entries.at(-1)!.prompt));

    await writeFile(join(cacheDir, files[0]), 'PATE garbage');
    assert.equal((await Tagger.create(vocab, new FakeEncoder(enc.modelId), { cache: new FileTextCache(cacheDir) })).embedded, vocab.entries.length);
    assert.equal((await Tagger.create(vocab, new FakeEncoder(enc.modelId), { cache: new FileTextCache(cacheDir) })).embedded, 0, 'rewritten');
  });

  it('a cached vector of the wrong width is recomputed; duplicates are embedded once', async () => {
    const cache = new FileTextCache(join(dir, 'width'));
    cache.put('m', new Map([['a photo of a dog', new Float32Array(8)]]));
    const enc = new FakeEncoder('m', 64);
    const r = await cachedTextVectors(enc, ['a photo of a dog', 'a photo of a cat', 'a photo of a dog'], cache);
    assert.equal(r.embedded, 2);
    assert.deepEqual(enc.calls, [['a photo of a dog', 'a photo of a cat']]);
    assert.equal(r.vectors.length, 3);
    assert.equal(r.vectors[0], r.vectors[2]);
    assert.equal(cache.get('m', ['a photo of a dog']).get('a photo of a dog')!.length, 64, 'the narrow vector was replaced');
  });
});

describe('assignment rule', () => {
  const labels = Array.from({ length: 30 }, (_, i) => `label ${i}`);
  const vocab = makeVocabulary(labels.map((label) => ({ label, prompt: `a photo of ${label}`, category: 'object' as const, source: 'shipped' as const })));
  const tagger = new Tagger(vocab, 'm', labels.map(() => new Float32Array([1, 0])));
  // 26 background scores spread evenly in [-0.125, 0.125]; labels 26..29 stand out by different margins.
  const raw = Float32Array.from({ length: 30 }, (_, i) => (i < 26 ? -0.125 + 0.01 * i : [0.9, 0.8, 0.7, 0.6][i - 26]));
  const z = photoZScores(raw);

  it('keeps labels at or above the threshold, best first, at most top-k', () => {
    assert.ok(z[26] > z[27] && z[27] > z[28] && z[28] > z[29] && z[29] > 3.5 && z[25] < 2.5, `${[...z].slice(24)}`);
    assert.deepEqual(tagger.assignScores(raw).map((h) => h.label), ['label 26', 'label 27', 'label 28', 'label 29']);
    assert.deepEqual(tagger.assignScores(raw, { topK: 2 }).map((h) => h.label), ['label 26', 'label 27']);
    assert.deepEqual(tagger.assignScores(raw, { threshold: z[27] }).map((h) => h.label), ['label 26', 'label 27']);
    const hit = tagger.assignScores(raw)[0];
    assert.ok(Math.abs(hit.score - z[26]) < 1e-6);
    assert.ok(Math.abs(hit.similarity - 0.9) < 1e-6);
  });

  it('gives at least `minimum` tags when they reach the floor, none that do not stand out', () => {
    const above = z[26] + 0.5;
    assert.deepEqual(tagger.assignScores(raw, { threshold: above }).map((h) => h.label), ['label 26'], 'floor = threshold − 1');
    assert.deepEqual(tagger.assignScores(raw, { threshold: above, minimum: 2, floor: z[27] }).map((h) => h.label), ['label 26', 'label 27']);
    assert.deepEqual(tagger.assignScores(raw, { threshold: z[26] + 2 }), [], 'the best label is below the floor');
    assert.deepEqual(tagger.assignScores(raw, { threshold: above, minimum: 0 }), []);
  });

  it('never returns excluded labels (a photo\'s rejected tags); the next best takes the slot', () => {
    assert.deepEqual(tagger.assignScores(raw, { topK: 2, exclude: ['LABEL 26'] }).map((h) => h.label), ['label 27', 'label 28']);
    assert.deepEqual(tagger.assignScores(raw, { threshold: z[26] + 0.5, exclude: ['label 26'] }), [], 'no fallback to a worse label below the floor');
  });

  it('assigns from query vectors: a photo near two prompts gets those two', async () => {
    const enc = new FakeEncoder();
    const t = await Tagger.create(loadVocabulary(), enc);
    const image = enc.imageNear(['a photo of a golden retriever', 'a photo of a beach']);
    assert.deepEqual(t.assign(image).map((h) => h.label).slice(0, 2).sort(), ['beach', 'golden retriever']);
    assert.throws(() => t.assign(new Float32Array(10)), /not a whole number of 64-wide query vectors/);
    assert.throws(() => tagger.assignScores(raw, { topK: 1.5 }), /whole numbers/);
    assert.throws(() => t.setCalibration({ modelId: 'else' } as never), /for model else/);
  });
});
