// IVF (inverted file) over the photos' mean query vectors: VectorIndex's coarse stage for large indexes, so a
// two-stage search scores ~nprobe·N/nlist mean vectors instead of all N.
//
// Training (spherical k-means: L2-normalized mean vectors, cosine assignment), seeded and deterministic:
//   - a random sample of ≤ `sample` photos (50,000); nlist ≈ 2·√N lists (2,025 at 1M photos) as the leaves of
//     a k-means tree of depth ⌈log_64 nlist⌉ (2 up to 4,096 lists), branching B = ⌈nlist^(1/depth)⌉; each
//     node runs k-means++ then ≤ `iterations` Lloyd steps on ≤ 256·B of its sample rows;
//   - the tree only serves assignment: a photo descends greedily in depth·B dot products (90 at 1M) instead
//     of nlist. Assigning all N photos is most of the training time (N·depth·B·D multiply-adds at ~1.5–2 G/s
//     in V8), hence 2·√N lists rather than 4·√N and 2 levels rather than 3 (16×16×16 halved the cost but lost
//     ~5 points of recall: greedy descent through coarse upper levels splits near neighbours);
//   - then each list's centroid becomes the normalized mean of its members; a search ranks all centroids;
//   - calibration: 96 sample photos as queries; their nearest sample photos (mean-vector dot, as deep as the
//     ~100 nearest of the index) must lie in the `nprobe` best lists. nprobe = the smallest of base·{1, 2, 4, …}
//     ≤ nlist/4 (base 32) whose estimated recall reaches `targetRecall` (0.95); if none does (no cluster
//     structure, e.g. independent random directions), nprobe = 0 and VectorIndex keeps its flat coarse pass.
// Membership: a growable Int32Array of slots per list, plus list and position per slot: add, replace and
// remove (VectorIndex moves its last slot into the hole) are O(1) after the depth·B dots of an add.
import { dot } from '../../runtime/blip2/itc-score.ts';

export interface CoarseOptions {
  /** The IVF is used from this many photos (default 50,000); below it the coarse scan is flat. */
  minPhotos?: number;
  /** Lists; default round(2·√N) at training time. */
  nlist?: number;
  /** Base number of lists probed (default 32; calibration may double it, see above). */
  nprobe?: number;
  /** Photos sampled for training (default 50,000). */
  sample?: number;
  /** Lloyd iterations per tree node (default 10; a node stops early once < 0.5% of its rows move). */
  iterations?: number;
  seed?: number;
  /** Estimated coarse recall the calibrated nprobe must reach (default 0.95). */
  targetRecall?: number;
}

export interface CoarseStats {
  /** Photos at training time; lists; tree depth and branching; training sample size. */
  trainedAt: number; nlist: number; depth: number; branching: number; sample: number;
  /** Lists probed by default (0 = the IVF did not reach the target recall: flat scan). */
  nprobe: number;
  /** Calibration: estimated recall at base·{1, 2, 4, …} lists. */
  recallAt: Record<number, number>;
  trainSeconds: number;
  /** Bytes held by the IVF (centroids, tree, lists, per-photo list/position). */
  memoryBytes: number;
}

export const IVF_MIN_PHOTOS = 50_000;
export const DEFAULT_NPROBE = 32;
const MAX_BRANCH = 64;
const ROWS_PER_CENTROID = 256;
const CALIBRATION_QUERIES = 96;
const CALIBRATION_DEPTH = 100;

interface TreeNode { k: number; c: Float32Array; sub: (TreeNode | undefined)[]; list: Int32Array }

export class CoarseIndex {
  readonly stats: CoarseStats;
  private readonly centroids: Float32Array;
  private readonly lists: Int32Array[];
  private readonly counts: Int32Array;
  private listOf = new Int32Array(0);
  private posOf = new Int32Array(0);

  private constructor(readonly dim: number, private readonly root: TreeNode, nlist: number, stats: CoarseStats) {
    this.stats = stats;
    this.centroids = new Float32Array(nlist * dim);
    this.lists = Array.from({ length: nlist }, () => new Int32Array(0));
    this.counts = new Int32Array(nlist);
  }

  /** Trains on slots 0…n−1 of `means` (n × dim) and assigns them all. */
  static train(means: Float32Array, n: number, dim: number, opts: CoarseOptions = {}): CoarseIndex {
    const start = performance.now();
    const rand = mulberry32(opts.seed ?? 0x5eed);
    const iterations = opts.iterations ?? 10;
    const S = Math.max(1, Math.min(n, opts.sample ?? 50_000));
    const slots = randomSubset(Int32Array.from({ length: n }, (_, i) => i), S, rand);
    const rows = new Float32Array(S * dim);
    for (let r = 0; r < S; r++) normalizeInto(means, slots[r] * dim, rows, r * dim, dim);

    const nlist = Math.max(1, Math.min(S, opts.nlist ?? Math.round(2 * Math.sqrt(n))));
    const depth = Math.max(1, Math.ceil(Math.log(nlist) / Math.log(MAX_BRANCH) - 1e-9));
    const branching = Math.max(2, Math.ceil(nlist ** (1 / depth) - 1e-9));
    let leaves = 0;
    const build = (idx: Int32Array, level: number): TreeNode => {
      const c = kmeans(rows, idx, Math.min(branching, idx.length), dim, iterations, rand);
      const k = c.length / dim;
      const node: TreeNode = { k, c, sub: new Array(k).fill(undefined), list: new Int32Array(k).fill(-1) };
      if (level === depth) { for (let j = 0; j < k; j++) node.list[j] = leaves++; return node; }
      const choice = new Int32Array(idx.length);
      nearestMany(rows, idx, c, k, dim, choice);
      for (let j = 0; j < k; j++) {
        const group = idx.filter((_, i) => choice[i] === j);
        if (group.length > 0) node.sub[j] = build(group, level + 1);
        else node.list[j] = leaves++; // no sample row below: a single (for now empty) list
      }
      return node;
    };
    const root = build(Int32Array.from({ length: S }, (_, r) => r), 1);

    const ivf = new CoarseIndex(dim, root, leaves, {
      trainedAt: n, nlist: leaves, depth, branching, sample: S, nprobe: 0, recallAt: {}, trainSeconds: 0, memoryBytes: 0,
    });
    ivf.copyTreeCentroids(root);
    ivf.assignAll(means, n);
    ivf.calibrate(rows, slots, opts.nprobe ?? DEFAULT_NPROBE, opts.targetRecall ?? 0.95, rand);
    ivf.stats.trainSeconds = (performance.now() - start) / 1000;
    ivf.stats.memoryBytes = ivf.memoryBytes();
    return ivf;
  }

  get nlist(): number { return this.lists.length; }

  /** Puts slot s (new, or with a changed mean vector) in its list. */
  place(s: number, means: Float32Array): void {
    if (s >= this.listOf.length) this.growSlots(s + 1);
    if (this.listOf[s] >= 0) this.unplace(s);
    let node = this.root;
    for (;;) {
      const j = nearest(means, s * this.dim, node.c, node.k, this.dim);
      const next = node.sub[j];
      if (next) { node = next; continue; }
      this.append(node.list[j], s);
      return;
    }
  }

  /** VectorIndex removed the photo in slot s and moved its last slot `last` into s. */
  remove(s: number, last: number): void {
    if (s < this.listOf.length && this.listOf[s] >= 0) this.unplace(s);
    if (s === last || last >= this.listOf.length || this.listOf[last] < 0) return;
    const l = this.listOf[last], p = this.posOf[last];
    this.lists[l][p] = s;
    this.listOf[s] = l; this.posOf[s] = p;
    this.listOf[last] = -1;
  }

  /** List ids, best centroid (by dot with `text`) first; empty lists last. */
  listsByScore(text: Float32Array): Int32Array {
    const { dim, counts } = this;
    const nl = this.nlist;
    const score = new Float64Array(nl);
    for (let l = 0; l < nl; l++) score[l] = counts[l] ? dot(this.centroids, l * dim, text, 0, dim) : -Infinity;
    return Int32Array.from({ length: nl }, (_, l) => l).sort((a, b) => score[b] - score[a] || a - b);
  }

  /** Slots in list l (a view; valid until the next change). */
  members(l: number): Int32Array { return this.lists[l].subarray(0, this.counts[l]); }

  /** Consistency check for tests: every slot < n in exactly one list, at its recorded position. */
  check(n: number): boolean {
    let total = 0;
    for (let l = 0; l < this.nlist; l++) {
      const m = this.members(l);
      total += m.length;
      for (let p = 0; p < m.length; p++) if (m[p] >= n || this.listOf[m[p]] !== l || this.posOf[m[p]] !== p) return false;
    }
    return total === n;
  }

  private append(l: number, s: number): void {
    let list = this.lists[l];
    const c = this.counts[l];
    if (c === list.length) {
      const bigger = new Int32Array(Math.max(8, Math.ceil(c * 1.5)));
      bigger.set(list);
      this.lists[l] = list = bigger;
    }
    list[c] = s;
    this.counts[l] = c + 1;
    this.listOf[s] = l; this.posOf[s] = c;
  }

  private unplace(s: number): void {
    const l = this.listOf[s], p = this.posOf[s];
    const list = this.lists[l];
    const lastPos = --this.counts[l];
    if (p !== lastPos) { const moved = list[lastPos]; list[p] = moved; this.posOf[moved] = p; }
    this.listOf[s] = -1;
  }

  private growSlots(min: number): void {
    const cap = Math.max(min, Math.ceil(this.listOf.length * 1.5) + 16);
    const listOf = new Int32Array(cap).fill(-1), posOf = new Int32Array(cap);
    listOf.set(this.listOf); posOf.set(this.posOf);
    this.listOf = listOf; this.posOf = posOf;
  }

  private copyTreeCentroids(node: TreeNode): void {
    for (let j = 0; j < node.k; j++) {
      const sub = node.sub[j];
      if (sub) this.copyTreeCentroids(sub);
      else this.centroids.set(node.c.subarray(j * this.dim, (j + 1) * this.dim), node.list[j] * this.dim);
    }
  }

  /** Assigns slots 0…n−1 down the tree (a node's photos two at a time), fills the lists, and sets each
   *  non-empty list's centroid to the normalized mean of its members' normalized mean vectors. */
  private assignAll(means: Float32Array, n: number): void {
    const { dim } = this;
    const leafOf = new Int32Array(n);
    const walk = (node: TreeNode, slots: Int32Array): void => {
      const choice = new Int32Array(slots.length);
      nearestMany(means, slots, node.c, node.k, dim, choice);
      for (let j = 0; j < node.k; j++) {
        const sub = node.sub[j];
        if (sub) walk(sub, slots.filter((_, i) => choice[i] === j));
        else choice.forEach((c, i) => { if (c === j) leafOf[slots[i]] = node.list[j]; });
      }
    };
    const all = new Int32Array(n);
    for (let s = 0; s < n; s++) all[s] = s;
    walk(this.root, all);
    for (let s = 0; s < n; s++) this.counts[leafOf[s]]++;
    for (let l = 0; l < this.nlist; l++) this.lists[l] = new Int32Array(Math.ceil(this.counts[l] * 1.25) + 8);
    this.counts.fill(0);
    this.growSlots(n);
    for (let s = 0; s < n; s++) this.append(leafOf[s], s);
    const unit = new Float32Array(dim), acc = new Float32Array(dim);
    for (let l = 0; l < this.nlist; l++) {
      if (!this.counts[l]) continue; // keeps the tree's centroid
      acc.fill(0);
      for (const s of this.members(l)) {
        normalizeInto(means, s * dim, unit, 0, dim);
        for (let i = 0; i < dim; i++) acc[i] += unit[i];
      }
      if (acc.some((x) => x !== 0)) normalizeInto(acc, 0, this.centroids, l * dim, dim);
    }
  }

  private calibrate(rows: Float32Array, slots: Int32Array, base: number, target: number, rand: () => number): void {
    const { dim } = this;
    const S = slots.length;
    const ladder: number[] = [];
    for (let p = Math.max(1, base); p <= Math.max(base, this.nlist / 4); p *= 2) ladder.push(Math.min(p, this.nlist));
    const hits = new Array<number>(ladder.length).fill(0);
    let total = 0;
    // Neighbours as deep as the ~100 nearest photos of the whole index (≥ 5 of the sample): the exact
    // top 10 by max-over-queries score reaches that deep in mean-vector order (bench, 100k photos: sample
    // depth 10 overestimated the recall by 3–5 points, depth 25 by 0–2, depth 50 underestimated it by 1–3).
    const depth = Math.min(CALIBRATION_DEPTH, Math.max(5, Math.round((CALIBRATION_DEPTH * S) / this.stats.trainedAt)));
    const queries = Math.min(CALIBRATION_QUERIES, Math.max(0, S - depth - 1));
    const scores = new Float32Array(S);
    for (let q = 0; q < queries; q++) {
      const r = Math.floor(rand() * S);
      const text = rows.subarray(r * dim, (r + 1) * dim);
      for (let i = 0; i < S; i++) scores[i] = i === r ? -Infinity : dot(rows, i * dim, text, 0, dim);
      const rank = new Int32Array(this.nlist);
      this.listsByScore(text).forEach((l, i) => { rank[l] = i; });
      for (const i of topIndices(scores, depth)) {
        total++;
        const at = rank[this.listOf[slots[i]]];
        ladder.forEach((p, j) => { if (at < p) hits[j]++; });
      }
    }
    ladder.forEach((p, j) => { this.stats.recallAt[p] = total ? hits[j] / total : 1; });
    this.stats.nprobe = ladder.find((p) => this.stats.recallAt[p] >= target) ?? 0;
  }

  private memoryBytes(): number {
    let bytes = this.centroids.byteLength + this.counts.byteLength + this.listOf.byteLength + this.posOf.byteLength;
    for (const l of this.lists) bytes += l.byteLength;
    const tree = (node: TreeNode): number => node.c.byteLength + node.sub.reduce((a, s) => a + (s ? tree(s) : 0), 0);
    return bytes + tree(this.root);
  }
}

/** Spherical k-means on unit rows[idx]: k-means++ seeding, then Lloyd steps; returns k' ≤ k unit centroids. */
function kmeans(rows: Float32Array, all: Int32Array, k: number, dim: number, iterations: number, rand: () => number): Float32Array {
  const idx = all.length > ROWS_PER_CENTROID * k ? randomSubset(all, ROWS_PER_CENTROID * k, rand) : all;
  const m = idx.length;
  const c = new Float32Array(Math.min(m, k) * dim);
  if (m <= k) { idx.forEach((r, i) => c.set(rows.subarray(r * dim, r * dim + dim), i * dim)); return c; }
  // k-means++: next centre drawn with probability ∝ 1 − max cos to the chosen ones (½‖x − c‖² for unit vectors).
  const best = new Float64Array(m).fill(-Infinity);
  let pick = Math.floor(rand() * m);
  for (let j = 0; j < k; j++) {
    c.set(rows.subarray(idx[pick] * dim, idx[pick] * dim + dim), j * dim);
    let sum = 0;
    for (let i = 0; i < m; i++) {
      const d = dot(rows, idx[i] * dim, c, j * dim, dim);
      if (d > best[i]) best[i] = d;
      sum += Math.max(0, 1 - best[i]);
    }
    let u = rand() * sum;
    pick = m - 1;
    for (let i = 0; i < m; i++) { u -= Math.max(0, 1 - best[i]); if (u <= 0) { pick = i; break; } }
  }
  const assign = new Int32Array(m).fill(-1), next = new Int32Array(m);
  const acc = new Float32Array(k * dim);
  const counts = new Int32Array(k);
  for (let it = 0; it < iterations; it++) {
    let changed = 0;
    acc.fill(0); counts.fill(0);
    nearestMany(rows, idx, c, k, dim, next);
    for (let i = 0; i < m; i++) {
      const at = idx[i] * dim, j = next[i];
      if (j !== assign[i]) { changed++; assign[i] = j; }
      counts[j]++;
      for (let t = 0; t < dim; t++) acc[j * dim + t] += rows[at + t];
    }
    if (changed <= m / 200) break;
    for (let j = 0; j < k; j++) { // an empty cluster is reseeded on a random row
      const r = idx[Math.floor(rand() * m)];
      if (counts[j] > 0) normalizeInto(acc, j * dim, c, j * dim, dim);
      else c.set(rows.subarray(r * dim, r * dim + dim), j * dim);
    }
  }
  return c;
}

/** out[i] = nearest(x, rows[i]·dim, …) for every i: two rows against four centroids per pass over the
 *  dimensions (8 accumulators, 6 loads per 8 multiply-adds: ~1.5× the one-row kernel in V8). */
function nearestMany(x: Float32Array, rows: Int32Array, c: Float32Array, k: number, dim: number, out: Int32Array): void {
  let r = 0;
  for (; r + 1 < rows.length; r += 2) {
    const ao = rows[r] * dim, bo = rows[r + 1] * dim;
    let bestA = 0, scoreA = -Infinity, bestB = 0, scoreB = -Infinity;
    let j = 0;
    for (; j + 3 < k; j += 4) {
      const o = j * dim;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let i = 0; i < dim; i++) {
        const va = x[ao + i], vb = x[bo + i], at = o + i;
        const c0 = c[at], c1 = c[at + dim], c2 = c[at + 2 * dim], c3 = c[at + 3 * dim];
        a0 += va * c0; a1 += va * c1; a2 += va * c2; a3 += va * c3;
        b0 += vb * c0; b1 += vb * c1; b2 += vb * c2; b3 += vb * c3;
      }
      if (a0 > scoreA) { scoreA = a0; bestA = j; } if (a1 > scoreA) { scoreA = a1; bestA = j + 1; }
      if (a2 > scoreA) { scoreA = a2; bestA = j + 2; } if (a3 > scoreA) { scoreA = a3; bestA = j + 3; }
      if (b0 > scoreB) { scoreB = b0; bestB = j; } if (b1 > scoreB) { scoreB = b1; bestB = j + 1; }
      if (b2 > scoreB) { scoreB = b2; bestB = j + 2; } if (b3 > scoreB) { scoreB = b3; bestB = j + 3; }
    }
    for (; j < k; j++) {
      const a = dot(x, ao, c, j * dim, dim), b = dot(x, bo, c, j * dim, dim);
      if (a > scoreA) { scoreA = a; bestA = j; }
      if (b > scoreB) { scoreB = b; bestB = j; }
    }
    out[r] = bestA; out[r + 1] = bestB;
  }
  if (r < rows.length) out[r] = nearest(x, rows[r] * dim, c, k, dim);
}

/** Index of the centroid (k rows of c) with the largest dot with x[xo…]. */
function nearest(x: Float32Array, xo: number, c: Float32Array, k: number, dim: number): number {
  let best = 0, bestScore = -Infinity;
  for (let j = 0; j < k; j++) {
    const score = dot(x, xo, c, j * dim, dim);
    if (score > bestScore) { bestScore = score; best = j; }
  }
  return best;
}

function normalizeInto(src: Float32Array, so: number, dst: Float32Array, d0: number, dim: number): void {
  let norm = 0;
  for (let i = 0; i < dim; i++) norm += src[so + i] * src[so + i];
  const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dim; i++) dst[d0 + i] = src[so + i] * inv;
}

/** Indices of the k largest values, largest first. */
function topIndices(xs: Float32Array, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (top.length < k) top.push(i);
    else if (xs[i] > xs[top[k - 1]]) top[k - 1] = i;
    else continue;
    let p = top.length - 1;
    while (p > 0 && xs[top[p - 1]] < xs[i]) { top[p] = top[p - 1]; p--; }
    top[p] = i;
  }
  return top;
}

/** m distinct elements of `from`, drawn by a partial Fisher–Yates shuffle of a copy. */
function randomSubset(from: Int32Array, m: number, rand: () => number): Int32Array {
  const a = from.slice();
  for (let i = 0; i < m && m < a.length; i++) {
    const j = i + Math.floor(rand() * (a.length - i));
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
  return a.subarray(0, m);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
