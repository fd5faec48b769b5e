// Vector search (max-over-queries ITC) and the embedding codecs: known rankings, filters, more-like-this,
// input validation, and the accuracy cost of fp16 / int8 storage measured on random unit vectors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorCode } from '../../src/shared/errors.ts';
import {
  bytesPerPhoto, decodeF16, dequantizeInt8, encodeF16, f16ToF32, quantizeInt8,
} from '../../src/library/catalog/embedding-codec.ts';
import type { CoarseOptions } from '../../src/library/search/coarse-index.ts';
import { VectorIndex, type SearchHit } from '../../src/library/search/vector-search.ts';
import { gaussian, rng, unitRows as unitRowsOf } from '../helpers/random-vectors.ts';
const unitRows = (r: () => number, rows: number, dim = D) => unitRowsOf(r, rows, dim);

const D = 256;
const Q = 32;

function basis(i: number, scale = 1): Float32Array {
  const v = new Float32Array(D);
  v[i] = scale;
  return v;
}
/** A photo whose Q vectors are all `base` except vector 0 which is `special` (both unit). */
function photo(special: Float32Array, base = basis(200)): Float32Array {
  const v = new Float32Array(Q * D);
  for (let q = 0; q < Q; q++) v.set(q === 0 ? special : base, q * D);
  return v;
}
function mix(a: number, b: number, wa: number): Float32Array {
  const v = new Float32Array(D);
  v[a] = wa;
  v[b] = Math.sqrt(1 - wa * wa);
  return v;
}
const ids = (hits: SearchHit[]) => hits.map((h) => h.photoId);
const isInvalid = (e: unknown) => errorCode(e) === 'invalid_argument';

describe('embedding codec', () => {
  it('decodes fp16 exactly for representable values and specials', () => {
    assert.equal(f16ToF32(0x3c00), 1);
    assert.equal(f16ToF32(0xc000), -2);
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    assert.equal(f16ToF32(0x7c00), Infinity);
    assert.ok(Number.isNaN(f16ToF32(0x7e00)));
    const x = new Float32Array([0, 0.5, -0.25, 1 / 3, 1e-6, 65504]);
    const back = decodeF16(encodeF16(x));
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(back[i] - x[i]) <= Math.abs(x[i]) * 2 ** -11 + 2 ** -25);
  });

  it('rejects NaN and bad lengths', () => {
    assert.throws(() => encodeF16(new Float32Array([1, NaN])), isInvalid);
    assert.throws(() => quantizeInt8(new Float32Array(255)), isInvalid);
  });

  it('reports the dot-product error of fp16 and int8 vs float32 on random unit vectors', () => {
    const r = rng(1);
    const photos = unitRows(r, 2000);
    const texts = unitRows(r, 50);
    const f16 = decodeF16(encodeF16(photos));
    const i8 = dequantizeInt8(quantizeInt8(photos));
    let e16 = 0, e8 = 0;
    for (let t = 0; t < 50; t++) {
      for (let p = 0; p < 2000; p++) {
        let a = 0, b = 0, c = 0;
        for (let j = 0; j < D; j++) {
          const x = texts[t * D + j];
          a += photos[p * D + j] * x; b += f16[p * D + j] * x; c += i8[p * D + j] * x;
        }
        e16 = Math.max(e16, Math.abs(a - b));
        e8 = Math.max(e8, Math.abs(a - c));
      }
    }
    console.log(`# max |Δdot| vs f32 over 100k pairs: fp16 ${e16.toExponential(2)}, int8 ${e8.toExponential(2)}; bytes/photo f32 ${bytesPerPhoto('f32')}, fp16 ${bytesPerPhoto('f16')}, int8 ${bytesPerPhoto('int8')}`);
    assert.ok(e16 < 2e-3, `fp16 error ${e16}`);
    assert.ok(e8 < 1e-2, `int8 error ${e8}`);
  });
});

describe('VectorIndex with known embeddings', () => {
  // Text = e0. Photo p's special vector has dot 0.9, 0.7, 0.5, 0.3 with e0; the other 31 vectors are e200 (dot 0).
  const build = (storage: 'f32' | 'int8') => {
    const idx = new VectorIndex({ storage, capacity: 2 });
    idx.add(10, photo(mix(0, 1, 0.5)));
    idx.add(11, photo(mix(0, 2, 0.9)));
    idx.add(12, photo(mix(0, 3, 0.3)));
    idx.add(13, photo(mix(0, 4, 0.7)));
    idx.add(14, photo(basis(5), basis(6))); // unrelated
    return idx;
  };
  for (const storage of ['f32', 'int8'] as const) {
    it(`${storage}: ranks by the max over query vectors`, () => {
      const idx = build(storage);
      const hits = idx.search(basis(0), { limit: 3 });
      assert.deepEqual(ids(hits), [11, 13, 10]);
      assert.ok(Math.abs(hits[0].score - 0.9) < 5e-3);
      assert.deepEqual(ids(idx.search(basis(0), { limit: 10 })), [11, 13, 10, 12, 14]);
      // The max picks the best vector: text e200 matches all but photo 14 at 1.0.
      assert.deepEqual(ids(idx.search(basis(200), { limit: 4 })).sort(), [10, 11, 12, 13]);
    });
  }

  it('combines filters, and replaces/removes photos', () => {
    const idx = build('f32');
    const even = (id: number) => id % 2 === 0;
    assert.deepEqual(ids(idx.search(basis(0), { limit: 5, filter: even })), [10, 12, 14]);
    const both = (id: number) => even(id) && id !== 10;
    assert.deepEqual(ids(idx.search(basis(0), { limit: 5, filter: both })), [12, 14]);
    assert.deepEqual(idx.search(basis(0), { limit: 5, filter: () => false }), []);
    idx.add(12, photo(mix(0, 3, 0.95))); // upsert
    assert.equal(idx.size, 5);
    assert.deepEqual(ids(idx.search(basis(0), { limit: 2 })), [12, 11]);
    assert.equal(idx.remove(11), true);
    assert.equal(idx.remove(11), false);
    assert.deepEqual(ids(idx.search(basis(0), { limit: 5 })), [12, 13, 10, 14]);
  });

  it('moreLikeThis returns the nearest neighbours, never the photo itself', () => {
    const r = rng(7);
    const idx = new VectorIndex();
    const centres = unitRows(r, 3);
    // 3 clusters × 5 photos: each photo's vectors are its centre plus noise.
    for (let p = 0; p < 15; p++) {
      const c = Math.floor(p / 5);
      const noise = unitRows(r, Q);
      const v = new Float32Array(Q * D);
      for (let q = 0; q < Q; q++) {
        let n = 0;
        for (let j = 0; j < D; j++) { const x = centres[c * D + j] + 0.6 * noise[q * D + j]; v[q * D + j] = x; n += x * x; }
        for (let j = 0; j < D; j++) v[q * D + j] /= Math.sqrt(n);
      }
      idx.add(p, v);
    }
    for (let p = 0; p < 15; p++) {
      const hits = idx.moreLikeThis(p, 4);
      const cluster = Math.floor(p / 5);
      assert.deepEqual(ids(hits).sort((a, b) => a - b), [0, 1, 2, 3, 4].map((i) => cluster * 5 + i).filter((i) => i !== p));
    }
    assert.deepEqual(ids(idx.moreLikeThis(0, 10, (id) => id >= 10)).length, 5);
    assert.throws(() => idx.moreLikeThis(99, 3), isInvalid);
  });

  it('rejects bad input with invalid_argument', () => {
    const idx = build('f32');
    assert.throws(() => idx.search(new Float32Array(255), { limit: 1 }), isInvalid);
    assert.throws(() => idx.search(basis(0, NaN), { limit: 1 }), isInvalid);
    assert.throws(() => idx.search(basis(0), { limit: 0 }), isInvalid);
    assert.throws(() => idx.search(basis(0), { limit: 1, candidates: 0 }), isInvalid);
    assert.throws(() => idx.add(1, new Float32Array(D)), isInvalid);
    const bad = photo(basis(0));
    bad[5] = Infinity;
    assert.throws(() => idx.add(1, bad), isInvalid);
    assert.throws(() => idx.add(1.5, photo(basis(0))), isInvalid);
  });
});

describe('VectorIndex on a random set', () => {
  const r = rng(42);
  const N = 1500;
  const data: Float32Array[] = [];
  for (let p = 0; p < N; p++) data.push(unitRows(r, Q));
  const f32 = new VectorIndex({ capacity: N });
  const i8 = new VectorIndex({ storage: 'int8', capacity: N });
  const f16 = new VectorIndex({ capacity: N });
  for (let p = 0; p < N; p++) {
    f32.add(p, data[p]);
    i8.add(p, data[p]);
    f16.add(p, decodeF16(encodeF16(data[p])));
  }
  const texts = unitRows(r, 20);
  const text = (t: number) => texts.subarray(t * D, (t + 1) * D);

  /** The ITC score written out independently of the index: max over the photo's queries of q·t, in float64. */
  const itc = (p: number, t: Float32Array) => {
    let best = -Infinity;
    for (let q = 0; q < Q; q++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += data[p][q * D + d] * t[d];
      best = Math.max(best, dot);
    }
    return best;
  };

  it('pruned search equals a brute-force scan', () => {
    for (let t = 0; t < 5; t++) {
      const brute = Array.from({ length: N }, (_, p) => ({ photoId: p, score: itc(p, text(t)) }))
        .sort((a, b) => b.score - a.score || a.photoId - b.photoId).slice(0, 10);
      const hits = f32.search(text(t), { limit: 10 });
      assert.deepEqual(ids(hits), ids(brute));
      for (let i = 0; i < 10; i++) assert.ok(Math.abs(hits[i].score - brute[i].score) < 1e-6);
    }
  });

  it('int8 and fp16 rankings agree with float32 (top-10 overlap)', () => {
    let o8 = 0, o16 = 0, oApprox = 0;
    for (let t = 0; t < 20; t++) {
      const ref = new Set(ids(f32.search(text(t), { limit: 10 })));
      o8 += ids(i8.search(text(t), { limit: 10 })).filter((id) => ref.has(id)).length;
      o16 += ids(f16.search(text(t), { limit: 10 })).filter((id) => ref.has(id)).length;
      oApprox += ids(f32.search(text(t), { limit: 10, candidates: 300 })).filter((id) => ref.has(id)).length;
    }
    console.log(`# top-10 overlap with f32 over 20 queries × ${N} random photos: int8 ${(o8 / 200 * 100).toFixed(1)}%, fp16 ${(o16 / 200 * 100).toFixed(1)}%, approx(candidates=300) ${(oApprox / 200 * 100).toFixed(1)}%`);
    assert.ok(o8 / 200 >= 0.9, `int8 overlap ${o8 / 200}`);
    assert.ok(o16 / 200 >= 0.98, `fp16 overlap ${o16 / 200}`);
  });
});

describe('VectorIndex across storage blocks', () => {
  // Vectors live in blocks of 16,384 photos (one typed array cannot hold 1M × 32 × 256 int8 values).
  for (const storage of ['f32', 'int8'] as const) {
    it(`${storage}: 40,000 photos over three blocks, removals across blocks, same answers as brute force`, () => {
      const q = 2, d = 8, n = 40_000;
      const r = rng(11);
      const index = new VectorIndex({ queries: q, dim: d, storage });
      const vecs = new Map<number, Float32Array>();
      for (let id = 1; id <= n; id++) {
        const v = unitRowsOf(r, q, d);
        vecs.set(id, v);
        index.add(id, v);
      }
      // Removing moves the last photo (third block) into holes of the first and second blocks.
      for (const id of [5, 20_000, 39_999, 16_384, 16_385]) { assert.ok(index.remove(id)); vecs.delete(id); }
      assert.equal(index.size, n - 5);
      const text = unitRowsOf(r, 1, d);
      const brute = [...vecs].map(([id, v]) => {
        let best = -Infinity;
        for (let k = 0; k < q; k++) { let s = 0; for (let i = 0; i < d; i++) s += v[k * d + i] * text[i]; best = Math.max(best, s); }
        return { id, best };
      }).sort((a, b) => b.best - a.best).slice(0, 10);
      const hits = index.search(text, { limit: 10 });
      const tol = storage === 'int8' ? 2e-2 : 1e-5;
      hits.forEach((h, i) => assert.ok(Math.abs(h.score - brute[i].best) < tol, `rank ${i}: ${h.score} vs ${brute[i].best}`));
      if (storage === 'f32') assert.deepEqual(hits.map((h) => h.photoId), brute.map((b) => b.id));
      // The moved photo still scores as itself.
      const moved = vecs.get(n)!;
      assert.ok(index.has(n));
      const self = index.search(moved.slice(0, d), { limit: 1, filter: (id) => id === n })[0];
      assert.equal(self.photoId, n);
      assert.ok(Math.abs(self.score - 1) < (storage === 'int8' ? 2e-2 : 1e-5), `its own first vector scores 1 (${self.score})`);
    });
  }
});

describe('VectorIndex IVF coarse stage (coarse-index.ts)', () => {
  // Photos grouped by topic (as a library is: many photos of few subjects), small shape to stay fast:
  // photo direction c = normalize(τ_topic + 0.5·g), its q vectors normalize(c + 0.4·g'), texts normalize(c_p + 0.5·g'').
  const q = 4, d = 16;
  const jitter = (r: () => number, base: Float32Array, at: number, scale: number, out = new Float32Array(d)) => {
    let norm = 0;
    for (let i = 0; i < d; i++) { const x = base[at + i] + (scale / Math.sqrt(d)) * gaussian(r); out[i] = x; norm += x * x; }
    for (let i = 0; i < d; i++) out[i] /= Math.sqrt(norm);
    return out;
  };
  const topicData = (seed: number, n: number, topics = 300) => {
    const r = rng(seed);
    const tau = unitRowsOf(r, topics, d);
    const centres = new Float32Array(n * d);
    const vecs: Float32Array[] = [];
    for (let p = 0; p < n; p++) {
      centres.set(jitter(r, tau, Math.floor(r() * topics) * d, 0.5), p * d);
      const v = new Float32Array(q * d);
      for (let k = 0; k < q; k++) v.set(jitter(r, centres, p * d, 0.4), k * d);
      vecs.push(v);
    }
    const texts = (count: number) => Array.from({ length: count }, () => jitter(r, centres, Math.floor(r() * n) * d, 0.5));
    return { vecs, texts };
  };
  const build = (vecs: Float32Array[], ivf: CoarseOptions = {}, firstId = 0) => {
    const index = new VectorIndex({ queries: q, dim: d, storage: 'f32', ivf });
    vecs.forEach((v, i) => index.add(firstId + i, v));
    return index;
  };
  const recall = (got: SearchHit[], want: SearchHit[]) => ids(got).filter((id) => ids(want).includes(id)).length / Math.max(1, want.length);

  const N = 60_000;
  const { vecs, texts } = topicData(5, N);
  const index = build(vecs);
  const queries = texts(30);

  it(`60,000 clustered photos: top-10 recall vs exact ≥ 0.95 while scoring a fraction of the mean vectors`, () => {
    let sum = 0, scanned = 0;
    for (const t of queries) {
      const exact = index.search(t, { limit: 10 });
      const ivf = index.search(t, { limit: 10, candidates: 300 });
      scanned += index.lastCoarseScanned;
      sum += recall(ivf, exact);
    }
    const stats = index.coarseStats!;
    console.log(`# IVF over ${N} photos: nlist ${stats.nlist} (depth ${stats.depth}), nprobe ${stats.nprobe}, train ${stats.trainSeconds.toFixed(2)} s, ` +
      `${(stats.memoryBytes / 2 ** 20).toFixed(1)} MiB; recall ${(sum / queries.length * 100).toFixed(1)}%, mean-vector scores per search ${Math.round(scanned / queries.length)}`);
    assert.ok(stats.nprobe > 0 && stats.trainedAt === N);
    assert.ok(sum / queries.length >= 0.95, `recall ${sum / queries.length}`);
    assert.ok(scanned / queries.length < N / 5, `scanned ${scanned / queries.length}`);
    assert.ok(index.coarseConsistent(), 'IVF lists hold every photo once');
    // nprobe 0 = the flat coarse pass over every photo
    index.search(queries[0], { limit: 10, candidates: 300, nprobe: 0 });
    assert.equal(index.lastCoarseScanned, N);
    assert.throws(() => index.search(queries[0], { limit: 10, candidates: 300, nprobe: -1 }), isInvalid);
  });

  it('applies the filter while probing, and probes on until enough photos pass it', () => {
    const third = (id: number) => id % 3 === 0;
    let sum = 0;
    for (const t of queries.slice(0, 10)) {
      const hits = index.search(t, { limit: 10, candidates: 300, filter: third });
      assert.ok(hits.length === 10 && hits.every((h) => third(h.photoId)));
      sum += recall(hits, index.search(t, { limit: 10, filter: third }));
    }
    assert.ok(sum / 10 >= 0.95, `filtered recall ${sum / 10}`);
    // A filter admitting 40 photos spread over the library: every list is read, the answer is exact.
    const few = new Set(Array.from({ length: 40 }, (_, i) => i * 1499));
    const hits = index.search(queries[0], { limit: 10, candidates: 300, filter: (id) => few.has(id) });
    assert.deepEqual(ids(hits), ids(index.search(queries[0], { limit: 10, filter: (id) => few.has(id) })));
    assert.equal(index.lastCoarseScanned, N);
  });

  it('is deterministic for a fixed seed', () => {
    const other = build(vecs.slice(0, 20_000), { minPhotos: 10_000, seed: 7 });
    const again = build(vecs.slice(0, 20_000), { minPhotos: 10_000, seed: 7 });
    const { trainSeconds: _a, ...s1 } = other.trainCoarse();
    const { trainSeconds: _b, ...s2 } = again.trainCoarse();
    assert.deepEqual(s1, s2);
    for (const t of queries.slice(0, 5)) {
      assert.deepEqual(other.search(t, { limit: 10, candidates: 200 }), again.search(t, { limit: 10, candidates: 200 }));
    }
  });

  it('keeps the lists consistent through removals, replacements and re-adds', () => {
    const small = build(vecs.slice(0, 15_000), { minPhotos: 10_000 });
    const t = queries[1];
    small.search(t, { limit: 10, candidates: 200 }); // trains
    assert.equal(small.coarseStats?.trainedAt, 15_000);
    const r = rng(99);
    const removed = new Set<number>();
    for (let i = 0; i < 3000; i++) { const id = Math.floor(r() * 15_000); if (small.remove(id)) removed.add(id); }
    assert.ok(small.coarseConsistent(), 'IVF lists hold every photo once');
    for (const id of [...removed].slice(0, 500)) { small.add(id, vecs[(id + 7) % N]); removed.delete(id); } // re-add, other vectors
    for (let id = 0; id < 300; id++) if (!removed.has(id)) small.add(id, vecs[N - 1 - id]); // replace in place
    assert.ok(small.coarseConsistent(), 'IVF lists hold every photo once');
    assert.equal(small.size, 15_000 - removed.size);
    for (const text of queries.slice(0, 10)) {
      const hits = small.search(text, { limit: 20, candidates: 200 });
      assert.ok(hits.every((h) => !removed.has(h.photoId)));
      assert.ok(recall(hits, small.search(text, { limit: 20 })) >= 0.9);
    }
    // A replaced photo is found through its new vectors.
    const self = small.search(vecs[N - 1 - 5].slice(0, d), { limit: 1, candidates: 50 });
    assert.equal(self[0].photoId, 5);
    assert.equal(small.coarseStats?.trainedAt, 15_000);
  });

  it('assigns photos added after training, and retrains once the index doubled', () => {
    const growing = build(vecs.slice(0, 12_000), { minPhotos: 10_000 });
    const t = queries[2];
    growing.search(t, { limit: 10, candidates: 200 });
    const first = growing.coarseStats!;
    assert.equal(first.trainedAt, 12_000);
    vecs.slice(12_000, 23_000).forEach((v, i) => growing.add(12_000 + i, v));
    assert.ok(growing.coarseConsistent(), 'IVF lists hold every photo once');
    const mid = growing.search(t, { limit: 10, candidates: 200 });
    assert.equal(growing.coarseStats, first, 'not retrained below 2×');
    assert.ok(recall(mid, growing.search(t, { limit: 10 })) >= 0.9);
    const late = growing.search(vecs[22_500].slice(0, d), { limit: 1, candidates: 50 });
    assert.equal(late[0].photoId, 22_500, 'a photo added after training is found');
    vecs.slice(23_000, 24_000).forEach((v, i) => growing.add(23_000 + i, v));
    growing.search(t, { limit: 10, candidates: 200 });
    assert.equal(growing.coarseStats!.trainedAt, 24_000);
    assert.ok(growing.coarseStats!.nlist > first.nlist);
    assert.ok(growing.coarseConsistent(), 'IVF lists hold every photo once');
  });

  it('stays flat below minPhotos, and when the embeddings have no cluster structure', () => {
    const small = build(vecs.slice(0, 5000));
    small.search(queries[0], { limit: 10, candidates: 200 });
    assert.equal(small.coarseStats, undefined);
    assert.equal(small.lastCoarseScanned, 5000);
    const r = rng(3);
    const noise = new VectorIndex({ queries: 2, dim: 64, ivf: { minPhotos: 10_000 } });
    for (let id = 0; id < 12_000; id++) noise.add(id, unitRowsOf(r, 2, 64));
    noise.search(unitRowsOf(r, 1, 64), { limit: 10, candidates: 200 });
    const stats = noise.coarseStats!;
    console.log(`# IVF calibration on 12,000 random 64-d photos: estimated recall ${JSON.stringify(stats.recallAt)} → nprobe ${stats.nprobe}`);
    assert.equal(stats.nprobe, 0);
    assert.equal(noise.lastCoarseScanned, 12_000);
  });
});
