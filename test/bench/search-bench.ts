// `node --import tsx test/bench/search-bench.ts`: ITC search latency over SEARCH_PHOTOS (default 100,000; SEARCH_QUERIES, default 50)
// synthetic photos × 32 × 256, int8 storage (8,320 B/photo ≈ 832 MB at 100k; fp16 would be 1.6 GB, f32 3.3 GB)
// plus a float32 mean vector per photo (1 KiB) for the coarse stage. Prints p50/p95 over 50 queries for
//   - exact: mean-vector bound pruning + exact max-over-queries scoring (same result as a full scan),
//   - two-stage: coarse mean-vector top SEARCH_CANDIDATES (default 2,000), then exact scoring of those only,
//     with its top-10 recall vs exact; and peak RSS.
// Data: SEARCH_MODEL=clustered (default) — each photo's 32 vectors are normalize(c_p + 0.7·u_q) around a
// photo direction c_p (BLIP-2 query vectors of one photo are correlated), texts are normalize(c_p + noise)
// of random photos; SEARCH_MODEL=random — independent unit vectors (worst case for the coarse stage).
//
// Measured here (2 cores): 100,000 photos: two-stage p95 57–65 ms (recall 100%), exact p95 1.0–1.4 s, 1.0 GiB.
// 1,000,000 photos (SEARCH_PHOTOS=1000000 SEARCH_QUERIES=10): two-stage p50 284 ms / p95 325 ms (top-10 recall
// 99%), exact p95 10.5 s, peak RSS 9.1 GiB (8.7 GiB of int8 vectors), build 294 s. The coarse pass (1M mean
// vectors × 256 MACs) is then the cost, and the resident vectors too much for a laptop. Next step at that
// size: an IVF over the mean vectors (k-means on a sample, ~1,000 lists, probe ~32 → ~30k means scanned) so
// the coarse stage drops to a few ms, and the 32×256 int8 blobs read on demand from the catalog (SQLite)
// or an mmapped file for the ~2,000 candidates (~17 MB per query) instead of kept in RAM.
import { VectorIndex } from '../../src/library/search/vector-search.ts';
import { peakRssMiB } from './proc-stats.ts';

const N = Number(process.env.SEARCH_PHOTOS ?? 100_000);
const CANDIDATES = Number(process.env.SEARCH_CANDIDATES ?? 2000);
const MODEL = process.env.SEARCH_MODEL ?? 'clustered';
const QUERIES = Number(process.env.SEARCH_QUERIES ?? 50);
/** IVF runs with these fixed nprobe values, besides the calibrated default. */
const NPROBES = (process.env.SEARCH_NPROBES ?? '16,32,64,128,256').split(',').map(Number);
const Q = 32, D = 256, LIMIT = 10;
const TOPICS = 1000, EVENT = 16;

let state = 0x9e3779b9;
function rand(): number { // xorshift32 in [-1, 1)
  state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
  return (state | 0) / 2147483648;
}
function normalize(v: Float32Array, off = 0, dim = D): void {
  let n = 0;
  for (let i = 0; i < dim; i++) n += v[off + i] * v[off + i];
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < dim; i++) v[off + i] *= inv;
}
function randomUnit(): Float32Array {
  const v = new Float32Array(D);
  for (let i = 0; i < D; i++) v[i] = rand();
  normalize(v);
  return v;
}
function seeded<T>(seed: number, make: () => T): T { // reproducible draws, the main stream untouched
  const saved = state;
  state = seed >>> 0 || 1;
  const x = make();
  state = saved;
  return x;
}
function centreOf(p: number): Float32Array { // reproducible per photo
  const own = seeded(p * 2654435761 + 1, randomUnit);
  if (MODEL !== 'topics') return own;
  // topics: photo p is in event ⌊p/16⌋ (a burst), the event in a topic (skewed: topic ⌊1000·u²⌋)
  const event = Math.floor(p / EVENT);
  const u = seeded(Math.imul(event, 0x2c1b3c6d) ^ 0x5bd1e995, () => (rand() + 1) / 2);
  const tau = seeded(Math.imul(Math.floor(TOPICS * u * u), 0x297a2d39) ^ 0x7f4a7c15, randomUnit);
  const ev = seeded(Math.imul(event, 0x68e31da4) ^ 0x1b873593, randomUnit);
  const c = new Float32Array(D);
  for (let i = 0; i < D; i++) c[i] = tau[i] + 0.8 * ev[i];
  normalize(c);
  for (let i = 0; i < D; i++) c[i] += 0.5 * own[i];
  normalize(c);
  return c;
}

const rssStart = peakRssMiB();
const index = new VectorIndex({ storage: 'int8', capacity: N });
const buildStart = performance.now();
const v = new Float32Array(Q * D);
for (let p = 0; p < N; p++) {
  const c = MODEL === 'random' ? undefined : centreOf(p);
  for (let q = 0; q < Q; q++) {
    for (let i = 0; i < D; i++) v[q * D + i] = (c ? c[i] : 0) + (c ? 0.7 / Math.sqrt(D / 3) : 1) * rand();
    normalize(v, q * D);
  }
  index.add(p, v);
}
const buildSeconds = (performance.now() - buildStart) / 1000;

const texts: Float32Array[] = [];
for (let t = 0; t < QUERIES; t++) {
  if (MODEL === 'random') { texts.push(randomUnit()); continue; }
  const c = centreOf(Math.floor(((rand() + 1) / 2) * N));
  const x = new Float32Array(D);
  for (let i = 0; i < D; i++) x[i] = c[i] + 1.0 / Math.sqrt(D / 3) * rand();
  normalize(x);
  texts.push(x);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
function run(opts: { candidates?: number; nprobe?: number }) {
  index.search(texts[0], { limit: LIMIT, ...opts }); // warm-up (JIT)
  const ms: number[] = [], scored: number[] = [], scanned: number[] = [], results: number[][] = [];
  for (const t of texts) {
    const s = performance.now();
    const hits = index.search(t, { limit: LIMIT, ...opts });
    ms.push(performance.now() - s);
    scored.push(index.lastExactScored);
    scanned.push(index.lastCoarseScanned);
    results.push(hits.map((h) => h.photoId));
  }
  return { p50: pct(ms, 50), p95: pct(ms, 95), meanExactScored: mean(scored), meanCoarseScanned: mean(scanned), results };
}
const fmt = (x: number) => Math.round(x * 10) / 10;

const exact = run({});
function recallVsExact(r: ReturnType<typeof run>): number {
  let overlap = 0;
  for (let t = 0; t < QUERIES; t++) {
    const ref = new Set(exact.results[t]);
    overlap += r.results[t].filter((id) => ref.has(id)).length;
  }
  return fmt((overlap / (QUERIES * LIMIT)) * 100);
}
const twoStage = run({ candidates: CANDIDATES, nprobe: 0 });
// IVF: trained here on purpose (a search would do it lazily), so its time is reported apart.
const stats = index.trainCoarse();
const ivfRun = (nprobe?: number) => {
  const r = run({ candidates: CANDIDATES, nprobe });
  return { nprobe: nprobe ?? `calibrated (${stats.nprobe})`, p50ms: fmt(r.p50), p95ms: fmt(r.p95), meanMeansScanned: Math.round(r.meanCoarseScanned), top10RecallVsExact: recallVsExact(r) };
};
const ivfRuns = [...(stats.nprobe > 0 ? [ivfRun()] : []), ...NPROBES.map((p) => ivfRun(p))];
console.log(JSON.stringify({
  photos: N, queryVectors: Q, dim: D, model: MODEL, storage: 'int8',
  storageMiB: fmt((N * (Q * D + Q * 4 + D * 4 + 4 + 8)) / 2 ** 20),
  buildSeconds: fmt(buildSeconds),
  exact: { p50ms: fmt(exact.p50), p95ms: fmt(exact.p95), meanPhotosScoredExactly: Math.round(exact.meanExactScored) },
  twoStage: {
    candidates: CANDIDATES, p50ms: fmt(twoStage.p50), p95ms: fmt(twoStage.p95), top10RecallVsExact: recallVsExact(twoStage),
  },
  ivf: {
    nlist: stats.nlist, depth: stats.depth, branching: stats.branching, sample: stats.sample,
    calibratedNprobe: stats.nprobe, estimatedRecallAt: stats.recallAt,
    trainSeconds: fmt(stats.trainSeconds), memoryMiB: fmt(stats.memoryBytes / 2 ** 20), runs: ivfRuns,
  },
  peakRssMiB: fmt(peakRssMiB()), rssAtStartMiB: fmt(rssStart),
}, null, 2));
