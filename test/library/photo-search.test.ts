// PhotoSearch and the embedding runner over a real catalog file, with a fake RetrievalEncoder (typed
// `satisfies RetrievalEncoder`) whose vectors and ITM scores are chosen so the right answers are known:
// ITC ranking, the text-vector cache, ITM re-rank order, filters alone and combined, browse paging and
// sorts, more-like-this, bad input, and a resumable embedding run that never embeds a photo twice.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/shared/errors.ts';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { type SearchFilters, dateBound, parseFilters } from '../../src/library/catalog/photo-filters.ts';
import { EXACT_SEARCH_MAX, PhotoSearch } from '../../src/library/search/photo-search.ts';
import type { RetrievalEncoder } from '../../src/runtime/blip2/retrieval-encoder.ts';

const Q = 4, D = 8;
const MODEL = 'fake-itm:fp32:2024';
const NOW = Date.UTC(2023, 0, 10, 12); // first_seen of every photo (no EXIF date → 2023-01-10)

/** A [Q × D] embedding from Q rows given as {dimension: weight}, each normalized. */
function emb(...rows: Record<number, number>[]): Float32Array {
  const v = new Float32Array(Q * D);
  rows.forEach((r, q) => {
    const n = Math.hypot(...Object.values(r));
    for (const [i, w] of Object.entries(r)) v[q * D + Number(i)] = w / n;
  });
  return v;
}
const unit = (i: number) => { const v = new Float32Array(D); v[i] = 1; return v; };

function fakeEncoder(opts: { itm?: Map<string, number>; images?: Map<string, Float32Array>; failImage?: Set<string> } = {}) {
  const calls = { texts: [] as string[], itm: [] as string[], images: [] as string[] };
  const encoder = {
    modelId: MODEL,
    queries: Q,
    embedDim: D,
    async embedTexts(texts: readonly string[]) {
      calls.texts.push(...texts);
      return texts.map((t) => unit(t.startsWith('snow') ? 7 : 0)); // every query means dimension 0, "snow…" dimension 7
    },
    async embedImage(path: string) {
      calls.images.push(path);
      if (opts.failImage?.has(path)) throw new AppError('photo_unreadable', 'cannot decode', { file: path });
      return opts.images?.get(path) ?? emb({ 1: 1 }, { 1: 1 }, { 1: 1 }, { 1: 1 });
    },
    async itm(path: string, texts: readonly string[]) {
      calls.itm.push(path);
      const p = opts.itm?.get(path);
      if (p === undefined) throw new AppError('photo_unreadable', 'cannot read', { file: path });
      return texts.map(() => p);
    },
    async dispose() {},
  } satisfies RetrievalEncoder;
  return { encoder, calls };
}

let root: string;
before(async () => (root = await mkdtemp(join(tmpdir(), 'pa-search-'))));
after(() => rm(root, { recursive: true, force: true }));

interface Lib { cat: Catalog; dir: string; ids: Record<string, number>; paths: Record<string, string>; folders: Record<string, number> }
let n = 0;

/**
 * p1…p5 with ITC scores for "sea" (dimension 0) of 1, .8, .6, .3, 0:
 *   p1 a/1.jpg  2021-06-01  beach (user)                 "A sunny BEACH at the Café"
 *   p2 a/2.jpg  2022-03-15  beach (ai), dog (rejected)   "a dog on sand"
 *   p3 b/3.jpg  2022-07-04  beach (ai)                   "beach volleyball"
 *   p4 b/4.jpg  (no EXIF: first seen 2023-01-10)         no caption
 *   p5 ab/5.jpg 2022-05-01  dog (user)                   "the cafe"
 */
function library(): Lib {
  const base = join(root, `t${++n}`);
  const folders: Record<string, number> = {};
  for (const f of ['a', 'b', 'ab']) { mkdirSync(join(base, f), { recursive: true }); }
  const cat = Catalog.open(join(base, 'catalog.db'), { now: () => NOW });
  for (const f of ['a', 'b', 'ab']) folders[f] = cat.addFolder(join(base, f)).id;
  const ids: Record<string, number> = {};
  const paths: Record<string, string> = {};
  const add = (name: string, folder: string, file: string, exifDate?: string) => {
    paths[name] = join(base, folder, file);
    ids[name] = cat.recordFile({ path: paths[name], folderId: folders[folder], hash: name, size: 1, mtimeMs: 1, exifDate }).photoId;
  };
  add('p1', 'a', '1.jpg', '2021-06-01T10:00:00');
  add('p2', 'a', '2.jpg', '2022-03-15T09:00:00+02:00');
  add('p3', 'b', '3.jpg', '2022-07-04T18:30:00');
  add('p4', 'b', '4.jpg');
  add('p5', 'ab', '5.jpg', '2022-05-01T08:00:00');
  const vectors: Record<string, Float32Array> = {
    p1: emb({ 0: 1 }, { 0: 1 }, { 0: 1 }, { 0: 1 }),
    p2: emb({ 0: 0.8, 1: 0.6 }, { 4: 1 }, { 4: 1 }, { 4: 1 }),
    p3: emb({ 0: 0.6, 2: 0.8 }, { 5: 1 }, { 5: 1 }, { 5: 1 }),
    p4: emb({ 0: 0.3, 3: Math.sqrt(0.91) }, { 6: 1 }, { 6: 1 }, { 6: 1 }),
    p5: emb({ 7: 1 }, { 7: 1 }, { 7: 1 }, { 7: 1 }),
  };
  for (const [name, v] of Object.entries(vectors)) cat.setEmbedding(ids[name], MODEL, v, { queries: Q, dim: D });
  cat.addUserTag(ids.p1, 'beach');
  cat.addAiTags(ids.p2, [{ label: 'beach', score: 0.7 }, { label: 'dog', score: 0.6 }]);
  cat.rejectTag(ids.p2, 'dog');
  cat.addAiTags(ids.p3, [{ label: 'beach', score: 0.9 }]);
  cat.addUserTag(ids.p5, 'Dog');
  cat.setUserCaption(ids.p1, 'A sunny BEACH at the Café');
  cat.addAiCaption(ids.p2, { text: 'a dog on sand', modelId: 'opt' });
  cat.addAiCaption(ids.p3, { text: 'beach volleyball', modelId: 'opt' });
  cat.setUserCaption(ids.p5, 'the cafe');
  return { cat, dir: base, ids, paths, folders };
}

const names = (lib: Lib, hits: { photoId: number }[]) => hits.map((h) => Object.keys(lib.ids).find((k) => lib.ids[k] === h.photoId));
const rejects = async (p: Promise<unknown> | (() => unknown), ...mustName: string[]) => {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (e: any) => {
    assert.equal(e.code, 'invalid_argument', e.message);
    for (const s of mustName) assert.ok(e.message.includes(s), `message names "${s}": ${e.message}`);
    return true;
  });
};

describe('PhotoSearch: ranking', () => {
  it('known embeddings give the known ITC ranking and scores; the query vector is computed once and cached', async () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, MODEL);
    assert.equal(search.size, 5);
    const { encoder, calls } = fakeEncoder();
    const hits = await search.search({ query: 'sea' }, encoder);
    assert.deepEqual(names(lib, hits), ['p1', 'p2', 'p3', 'p4', 'p5']);
    const want = [1, 0.8, 0.6, 0.3, 0];
    hits.forEach((h, i) => assert.ok(Math.abs(h.score - want[i]) < 1e-2, `${h.score} vs ${want[i]}`));
    assert.ok(hits.every((h) => h.itm === undefined));
    assert.deepEqual(names(lib, await search.search({ query: '  sea \n', limit: 2 }, encoder)), ['p1', 'p2']);
    assert.deepEqual(calls.texts, ['sea']); // the second search used the cache
    assert.ok(lib.cat.textEmbeddings(MODEL, ['sea']).has('sea'));
    // A new PhotoSearch (next run) still finds the cached vector in the catalog.
    await PhotoSearch.load(lib.cat, MODEL).search({ query: 'sea' }, encoder);
    assert.equal(calls.texts.length, 1);
    assert.deepEqual(names(lib, await search.search({ query: 'snow' }, encoder)).slice(0, 1), ['p5']);
  });

  it('ITM re-rank reorders the top candidates exactly by ITM probability; the rest keep ITC order', async () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, MODEL);
    const itm = new Map([[lib.paths.p1, 0.2], [lib.paths.p2, 0.9], [lib.paths.p3, 0.5], [lib.paths.p4, 0.95], [lib.paths.p5, 0.1]]);
    const { encoder, calls } = fakeEncoder({ itm });
    const top3 = await search.search({ query: 'sea', rerank: { top: 3 } }, encoder);
    assert.deepEqual(names(lib, top3), ['p2', 'p3', 'p1', 'p4', 'p5']);
    assert.deepEqual(top3.map((h) => h.itm), [0.9, 0.5, 0.2, undefined, undefined]);
    assert.deepEqual(calls.itm, [lib.paths.p1, lib.paths.p2, lib.paths.p3]); // exactly the top 3, one pass each
    const all = await search.search({ query: 'sea', rerank: true }, encoder); // default top 16 covers all five
    assert.deepEqual(names(lib, all), ['p4', 'p2', 'p3', 'p1', 'p5']);
    assert.deepEqual(names(lib, await search.search({ query: 'sea', rerank: { top: 3 }, limit: 2 }, encoder)), ['p2', 'p3']);
    // A photo that cannot be read now keeps its place after the re-ranked ones instead of failing the search.
    itm.delete(lib.paths.p2);
    const partial = await search.search({ query: 'sea', rerank: { top: 3 } }, encoder);
    assert.deepEqual(names(lib, partial), ['p3', 'p1', 'p2', 'p4', 'p5']);
    assert.equal(partial[2].itm, undefined);
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(search.search({ query: 'sea', rerank: true, signal: stop.signal }, encoder), { code: 'cancelled' });
  });

  it('moreLikeThis returns the nearest neighbours without the photo itself, with filters; loads late embeddings', async () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, MODEL);
    assert.deepEqual(names(lib, search.moreLikeThis(lib.ids.p1)), ['p2', 'p3', 'p4', 'p5']);
    assert.deepEqual(names(lib, search.moreLikeThis(lib.ids.p1, { limit: 2 })), ['p2', 'p3']);
    assert.deepEqual(names(lib, search.moreLikeThis(lib.ids.p1, { filters: { folderId: lib.folders.b } })), ['p3', 'p4']);
    const p6 = lib.cat.recordFile({ path: join(lib.dir, 'a', '6.jpg'), folderId: lib.folders.a, hash: 'p6', size: 1, mtimeMs: 1 }).photoId;
    await rejects(() => search.moreLikeThis(p6), `photo ${p6} has no embedding yet (it is still queued for analysis)`);
    await rejects(() => search.moreLikeThis(424242), 'no photo with id 424242');
    // Written by another process (the indexer) after this index was loaded.
    lib.cat.setEmbedding(p6, MODEL, emb({ 0: 1 }, { 0: 1 }, { 0: 1 }, { 0: 1 }), { queries: Q, dim: D });
    assert.deepEqual(names(lib, search.moreLikeThis(p6, { limit: 1 })), ['p1']);
  });

  it('photos whose files are gone never show up; add/remove keep the index current', async () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, MODEL);
    const { encoder } = fakeEncoder();
    lib.cat.markFileMissing(lib.paths.p1);
    assert.deepEqual(names(lib, await search.search({ query: 'sea' }, encoder)), ['p2', 'p3', 'p4', 'p5']);
    assert.deepEqual(names(lib, await search.search({ query: 'sea', filters: { hasTags: ['beach'] } }, encoder)), ['p2', 'p3']);
    assert.equal(search.remove(lib.ids.p2), true);
    search.add(lib.ids.p5, emb({ 0: 1 }, { 0: 1 }, { 0: 1 }, { 0: 1 }), { queries: Q, dim: D });
    assert.deepEqual(names(lib, await search.search({ query: 'sea' }, encoder)), ['p5', 'p3', 'p4']);
  });
});

describe('PhotoSearch: filters', () => {
  const cases: [string, SearchFilters, string[]][] = [
    ['folder (path prefix, not a sibling with the same start)', { folder: '/a' }, ['p1', 'p2']],
    ['folderId', { folderId: 0 }, ['p3', 'p4']],
    ['dateFrom/dateTo by year and month, inclusive', { dateFrom: '2022', dateTo: '2022-06' }, ['p2', 'p5']],
    ['dateTo as a day includes that whole day', { dateTo: '2021-06-01' }, ['p1']],
    ['no EXIF date: the day the catalog first saw it', { dateFrom: '2023-01-10' }, ['p4']],
    ['hasTags: accepted or suggested, case-insensitive', { hasTags: ['Beach'] }, ['p1', 'p2', 'p3']],
    ['a rejected tag counts as absent', { hasTags: ['dog'] }, ['p5']],
    ['lacksTags', { lacksTags: ['dog', 'beach'] }, ['p4']],
    ['captionContains: current caption, Unicode case folding', { captionContains: 'CAFÉ' }, ['p1']],
    ['captioned: false', { captioned: false }, ['p4']],
    ['folder + date + tag + caption combined', { folder: '/a', dateFrom: '2022-01-01', hasTags: ['beach'], captionContains: 'DOG' }, ['p2']],
    ['everything excluded', { folder: '/b', hasTags: ['dog'] }, []],
  ];
  for (const [what, f, want] of cases) {
    it(`${what}`, async () => {
      const lib = library();
      const filters = { ...f };
      if (filters.folder) filters.folder = join(lib.dir, filters.folder);
      if (filters.folderId === 0) filters.folderId = lib.folders.b;
      const search = PhotoSearch.load(lib.cat, MODEL);
      const { encoder } = fakeEncoder();
      // The semantic search keeps ITC order among matches; browse lists the same set.
      assert.deepEqual(names(lib, await search.search({ query: 'sea', filters }, encoder)), want);
      assert.deepEqual(names(lib, search.browse(filters, { sort: 'name' }).photoIds.map((photoId) => ({ photoId }))), want);
    });
  }

  it('browse pages and sorts', () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, MODEL);
    const ids = (p: { photoIds: number[] }) => names(lib, p.photoIds.map((photoId) => ({ photoId })));
    assert.deepEqual(ids(search.browse({}, { sort: 'date-desc' })), ['p4', 'p3', 'p5', 'p2', 'p1']);
    assert.deepEqual(ids(search.browse({}, { sort: 'date-asc', limit: 2, offset: 1 })), ['p2', 'p5']);
    assert.equal(search.browse({}, { limit: 2 }).total, 5);
    assert.deepEqual(ids(search.browse()), ['p4', 'p3', 'p5', 'p2', 'p1']);
    assert.throws(() => search.browse({}, { limit: 0 }), /limit/);
    assert.throws(() => search.browse({}, { offset: -1 }), /offset/);
    assert.throws(() => search.browse({}, { sort: 'size' as never }), /unknown sort "size"; known sorts: date-desc/);
  });

  it('dates: partial bounds, and bad dates named', () => {
    assert.equal(dateBound('2023', 'from'), '2023-01-01T00:00:00');
    assert.equal(dateBound('2023-02', 'to'), '2023-02-31T23:59:59');
    assert.equal(dateBound('2023-02-03 04:05', 'to'), '2023-02-03T04:05:59');
    for (const bad of ['yesterday', '2023-13', '2023-02-30', '2023-1-5', '2023-01-01Z', '2023-01-01T25:00']) {
      assert.throws(() => parseFilters({ dateFrom: bad }), (e: any) => e.code === 'invalid_argument' && e.message.includes(`"${bad}"`));
    }
    assert.throws(() => parseFilters({ dateFrom: '2023', dateTo: '2022' }), /after dateTo/);
  });
});

describe('PhotoSearch: bad input', () => {
  it('empty query, unknown filter, bad types, limits and re-rank sizes are invalid_argument; a 10,000-character query works', async () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, MODEL);
    const { encoder, calls } = fakeEncoder();
    await rejects(search.search({ query: '' }, encoder), 'the search query is empty');
    await rejects(search.search({ query: ' \n\t ' }, encoder), 'the search query is empty');
    await rejects(search.search({ query: 'sea', filters: { colour: 'red' } as never }, encoder),
      'unknown filter "colour"; known filters: folderId, folder, dateFrom, dateTo, hasTags, lacksTags, captionContains, captioned');
    await rejects(search.search({ query: 'sea', filters: { hasTags: 'beach' } as never }, encoder), 'filter "hasTags"');
    await rejects(search.search({ query: 'sea', filters: { folder: 'relative/dir' } }, encoder), 'absolute');
    await rejects(search.search({ query: 'sea', limit: 0 }, encoder), 'limit must be an integer from 1 to 1000, got 0');
    await rejects(search.search({ query: 'sea', limit: 1001 }, encoder), 'got 1001');
    await rejects(search.search({ query: 'sea', limit: 2.5 }, encoder), 'got 2.5');
    await rejects(search.search({ query: 'sea', rerank: { top: 0 } }, encoder), 'rerank top');
    await rejects(search.search({ query: 'sea', rerank: { top: 129 } }, encoder), 'rerank top');
    await rejects(search.search({ query: 'sea' }, { ...encoder, modelId: 'other' }), 'other');
    assert.equal(calls.texts.length, 0); // nothing reached the model

    const long = `sea ${'x'.repeat(9_996)}`;
    assert.equal(long.length, 10_000);
    const hits = await search.search({ query: long }, encoder);
    assert.equal(hits.length, 5);
    assert.ok(calls.texts[0].length <= 2000, `clipped to ${calls.texts[0].length}`);
  });

  it('an empty index answers with no hits (after validating the query)', async () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, 'nothing-stored');
    const { encoder } = fakeEncoder();
    assert.deepEqual(await search.search({ query: 'sea' }, { ...encoder, modelId: 'nothing-stored' }), []);
    await rejects(search.search({ query: '' }, { ...encoder, modelId: 'nothing-stored' }), 'empty');
  });
});

describe('PhotoSearch: large libraries', () => {
  it(`above ${EXACT_SEARCH_MAX} photos the two-stage search still returns the known ranking`, async () => {
    const lib = library();
    const search = PhotoSearch.load(lib.cat, MODEL);
    // 10,000 more photos (index only) that point elsewhere: dimensions 2–6, never the query's 0.
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < EXACT_SEARCH_MAX; i++) {
      const v = new Float32Array(Q * D);
      for (let q = 0; q < Q; q++) {
        const d = 2 + Math.floor(rnd() * 5);
        v[q * D + d] = 1;
      }
      search.add(1_000_000 + i, v, { queries: Q, dim: D });
    }
    assert.ok(search.size > EXACT_SEARCH_MAX);
    // p5 scores 0 like the added photos, so the known order is the first four.
    const hits = await search.search({ query: 'sea', limit: 4 }, fakeEncoder().encoder);
    assert.deepEqual(names(lib, hits), ['p1', 'p2', 'p3', 'p4']);
    assert.deepEqual(names(lib, await search.search({ query: 'snow', limit: 1 }, fakeEncoder().encoder)), ['p5']);
  });
});
