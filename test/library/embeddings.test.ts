// Photo embeddings, cached text embeddings and settings in a real catalog file: storage round trips
// (int8 default, f16), validation naming the photo, paged reading, what still needs an embedding,
// and the measured accuracy cost of int8 / f16 storage on the max-over-queries ITC score.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import type { Folder } from '../../src/library/catalog/types.ts';
import { rng, unitRows } from '../helpers/random-vectors.ts';
import { sqlOf } from '../helpers/catalog-sql.ts';

let root: string;
before(async () => (root = await mkdtemp(join(tmpdir(), 'pa-embed-'))));
after(() => rm(root, { recursive: true, force: true }));

let n = 0;
function fresh(): { cat: Catalog; dbFile: string; folder: Folder; dir: string } {
  const base = join(root, `t${++n}`);
  const dir = join(base, 'photos');
  mkdirSync(dir, { recursive: true });
  const dbFile = join(base, 'catalog.db');
  const cat = Catalog.open(dbFile);
  return { cat, dbFile, dir, folder: cat.addFolder(dir) };
}

function addPhotos(cat: Catalog, folder: Folder, dir: string, count: number): number[] {
  const ids: number[] = [];
  cat.transaction(() => {
    for (let i = 0; i < count; i++) {
      ids.push(cat.recordFile({ path: join(dir, `p${i}.jpg`), folderId: folder.id, hash: `h${i}`, size: 10, mtimeMs: 1 }).photoId);
    }
  });
  return ids;
}

function itc(img: Float32Array, text: Float32Array, queries: number, dim: number): number {
  let best = -Infinity;
  for (let q = 0; q < queries; q++) {
    let d = 0;
    for (let i = 0; i < dim; i++) d += img[q * dim + i] * text[i];
    best = Math.max(best, d);
  }
  return best;
}
function invalid(fn: () => unknown, ...mustName: string[]): void {
  assert.throws(fn, (e: any) => {
    assert.equal(e.code, 'invalid_argument', e.message);
    for (const s of mustName) assert.ok(e.message.includes(s), `message names "${s}": ${e.message}`);
    return true;
  });
}

describe('photo embeddings in the catalog', () => {
  it('stores int8 by default and f16 on request; reads back float32 within the codec error; replaces', () => {
    const { cat, folder, dir } = fresh();
    const [a, b] = addPhotos(cat, folder, dir, 2);
    const v = unitRows(rng(1), 32, 256);
    cat.setEmbedding(a, 'm1', v, { queries: 32, dim: 256 });
    cat.setEmbedding(b, 'm1', v, { queries: 32, dim: 256, storage: 'f16' });
    const rows = sqlOf(cat).prepare('SELECT photo_id, storage, length(data) AS bytes, length(scales) AS scaleBytes FROM embeddings ORDER BY photo_id').all();
    assert.deepEqual(rows, [
      { photo_id: a, storage: 'int8', bytes: 32 * 256, scaleBytes: 32 * 4 },
      { photo_id: b, storage: 'f16', bytes: 32 * 256 * 2, scaleBytes: null },
    ]);
    const maxErr = (x: Float32Array) => x.reduce((m, y, i) => Math.max(m, Math.abs(y - v[i])), 0);
    assert.ok(maxErr(cat.embedding(a, 'm1')!) < 2e-3);
    assert.ok(maxErr(cat.embedding(b, 'm1')!) < 2e-4);
    assert.equal(cat.embedding(a, 'other-model'), undefined);
    assert.equal(cat.hasEmbedding(a, 'm1'), true);

    const w = unitRows(rng(2), 32, 256);
    cat.setEmbedding(a, 'm1', w, { queries: 32, dim: 256 });
    assert.ok(cat.embedding(a, 'm1')!.every((y, i) => Math.abs(y - w[i]) < 2e-3));
    assert.equal(cat.embeddingCount('m1'), 2);
    cat.close();
  });

  it('rejects a wrong length, non-finite values, a bad shape or storage and an unknown photo, naming the photo', () => {
    const { cat, folder, dir } = fresh();
    const [id] = addPhotos(cat, folder, dir, 1);
    invalid(() => cat.setEmbedding(id, 'm', new Float32Array(10), { queries: 4, dim: 4 }), `photo ${id}`, '10 values', '16');
    const nan = new Float32Array(16); nan[3] = NaN;
    invalid(() => cat.setEmbedding(id, 'm', nan, { queries: 4, dim: 4 }), `photo ${id}`, 'non-finite', 'at 3');
    const inf = new Float32Array(16); inf[15] = -Infinity;
    invalid(() => cat.setEmbedding(id, 'm', inf, { queries: 4, dim: 4, storage: 'f16' }), `photo ${id}`, 'non-finite');
    const big = new Float32Array(16); big[0] = 1e6;
    invalid(() => cat.setEmbedding(id, 'm', big, { queries: 4, dim: 4, storage: 'f16' }), `photo ${id}`, 'fp16');
    invalid(() => cat.setEmbedding(id, 'm', new Float32Array(16), { queries: 0, dim: 16 }), `photo ${id}`);
    invalid(() => cat.setEmbedding(id, 'm', new Float32Array(16), { queries: 4, dim: 4, storage: 'f32' as never }), 'int8 or f16');
    invalid(() => cat.setEmbedding(id, '', new Float32Array(16), { queries: 4, dim: 4 }), 'model');
    invalid(() => cat.setEmbedding(9999, 'm', new Float32Array(16), { queries: 4, dim: 4 }), '9999');
    assert.equal(cat.embeddingCount('m'), 0);
    cat.close();
  });

  it('embeddingsOf streams every row in photo order across pages; photosWithoutEmbedding lists what is left', () => {
    const { cat, folder, dir } = fresh();
    const ids = addPhotos(cat, folder, dir, 1100);
    const r = rng(3);
    cat.transaction(() => {
      for (const id of ids.slice(0, 1030)) cat.setEmbedding(id, 'm', unitRows(r, 2, 4), { queries: 2, dim: 4, storage: id % 2 ? 'int8' : 'f16' });
    });
    const seen = [...cat.embeddingsOf('m')];
    assert.deepEqual(seen.map((e) => e.photoId), ids.slice(0, 1030));
    for (const e of seen.slice(0, 4)) {
      assert.equal(e.storage, e.photoId % 2 ? 'int8' : 'f16');
      if (e.storage === 'int8') assert.equal(e.int8!.codes.length, 8);
      else assert.equal(e.f32!.length, 8);
    }
    assert.equal(cat.missingEmbeddingCount('m'), 70);
    const first = cat.photosWithoutEmbedding('m', 50);
    assert.deepEqual(first.map((p) => p.photoId), ids.slice(1030, 1080));
    assert.equal(first[0].path, join(dir, 'p1030.jpg'));
    assert.deepEqual(cat.photosWithoutEmbedding('m', 50, first[49].photoId).map((p) => p.photoId), ids.slice(1080));
    // A photo whose only file is gone waits: nothing to read.
    cat.markFileMissing(join(dir, 'p1099.jpg'));
    assert.equal(cat.missingEmbeddingCount('m'), 69);
    assert.equal(cat.missingEmbeddingCount('another'), 1099);
    invalid(() => cat.photosWithoutEmbedding('m', 0), 'limit');
    cat.close();
  });

  it('int8 storage costs ≈1.8e-3 of ITC score vs float32 (f16 ≈6e-5): measured on 200 photos × 50 texts', (t) => {
    const { cat, folder, dir } = fresh();
    const Q = 32, D = 256;
    const ids = addPhotos(cat, folder, dir, 200);
    const r = rng(42);
    const originals = new Map<number, Float32Array>();
    cat.transaction(() => {
      for (const id of ids) {
        const v = unitRows(r, Q, D);
        originals.set(id, v);
        cat.setEmbedding(id, 'int8-model', v, { queries: Q, dim: D });
        cat.setEmbedding(id, 'f16-model', v, { queries: Q, dim: D, storage: 'f16' });
      }
    });
    const texts = unitRows(r, 50, D);
    let int8Max = 0, f16Max = 0;
    for (const id of ids) {
      const i8 = cat.embedding(id, 'int8-model')!;
      const f16 = cat.embedding(id, 'f16-model')!;
      for (let k = 0; k < 50; k++) {
        const text = texts.subarray(k * D, (k + 1) * D);
        const exact = itc(originals.get(id)!, text, Q, D);
        int8Max = Math.max(int8Max, Math.abs(itc(i8, text, Q, D) - exact));
        f16Max = Math.max(f16Max, Math.abs(itc(f16, text, Q, D) - exact));
      }
    }
    t.diagnostic(`max |Δ ITC score| vs float32: int8 ${int8Max.toExponential(2)}, f16 ${f16Max.toExponential(2)}`);
    assert.ok(int8Max < 3e-3, `int8 ${int8Max}`);
    assert.ok(f16Max < 2e-4, `f16 ${f16Max}`);
    cat.close();
  });

  it('deleting a photo deletes its embeddings (foreign key cascade)', () => {
    const { cat, folder, dir } = fresh();
    const [id] = addPhotos(cat, folder, dir, 1);
    cat.setEmbedding(id, 'm', new Float32Array(4).fill(0.5), { queries: 1, dim: 4 });
    sqlOf(cat).prepare('DELETE FROM photos WHERE id = ?').run(id);
    assert.equal(cat.embeddingCount('m'), 0);
    cat.close();
  });
});

describe('cached text embeddings', () => {
  it('returns only cached texts, per model, exactly as stored; a later store replaces', () => {
    const { cat, dbFile } = fresh();
    const a = Float32Array.from([0.6, 0.8]);
    const b = Float32Array.from([1, 0]);
    cat.storeTextEmbeddings('m', [['a photo of a dog', a], ['a beach', b]]);
    const got = cat.textEmbeddings('m', ['a photo of a dog', 'a beach', 'not cached', 'a photo of a dog']);
    assert.deepEqual([...got.keys()], ['a photo of a dog', 'a beach']);
    assert.deepEqual([...got.get('a photo of a dog')!], [...a]);
    assert.equal(cat.textEmbeddings('other', ['a beach']).size, 0);
    cat.storeTextEmbeddings('m', [['a beach', Float32Array.from([0, 1])]]);
    cat.close();
    const again = Catalog.open(dbFile);
    assert.deepEqual([...again.textEmbeddings('m', ['a beach']).get('a beach')!], [0, 1]);
    again.close();
  });

  it('rejects empty texts, empty or non-finite vectors', () => {
    const { cat } = fresh();
    invalid(() => cat.storeTextEmbeddings('m', [['', Float32Array.from([1])]]), 'text');
    invalid(() => cat.storeTextEmbeddings('m', [['x', new Float32Array(0)]]), '"x"');
    invalid(() => cat.storeTextEmbeddings('m', [['ok', Float32Array.from([1])], ['y', Float32Array.from([NaN])]]), '"y"', 'non-finite');
    assert.equal(cat.textEmbeddings('m', ['ok']).size, 0); // nothing of a rejected batch is stored
    cat.close();
  });
});

describe('settings', () => {
  it('stores JSON values by key, replaces, deletes, and keeps them across reopen', () => {
    const { cat, dbFile } = fresh();
    assert.equal(cat.getSetting('retrievalModelDir'), undefined);
    cat.setSetting('retrievalModelDir', '/models/itm');
    cat.setSetting('search', { rerankTop: 16, storage: 'int8' });
    cat.setSetting('search', { rerankTop: 8 });
    cat.setSetting('flag', false);
    cat.close();
    const again = Catalog.open(dbFile);
    assert.equal(again.getSetting<string>('retrievalModelDir'), '/models/itm');
    assert.deepEqual(again.getSetting('search'), { rerankTop: 8 });
    assert.equal(again.getSetting('flag'), false);
    assert.equal(again.deleteSetting('flag'), true);
    assert.equal(again.getSetting('flag'), undefined);
    invalid(() => again.setSetting('x', undefined), '"x"');
    invalid(() => again.setSetting(' ', 1), 'key');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    invalid(() => again.setSetting('c', circular), '"c"');
    again.close();
  });
});
