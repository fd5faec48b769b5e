// In-memory BLIP-2 ITC search over N photos × Q query vectors (Q = 32, D = 256, all L2-normalized).
// score(photo, text) = max over the photo's Q vectors of dot(v_q, text) — HF's Blip2ForImageTextRetrieval
// ITC similarity (no temperature). Storage: flat Float32Array, or int8 codes with one scale per vector
// (embedding-codec.ts); fp16 blobs from the catalog are decoded with decodeF16 before add().
//
// Search is exact top-k with a bounded min-heap, in two stages that do not change the result:
//   1. coarse: for each photo its mean query vector m_p and radius r_p = max_q ‖v_q − m_p‖ are kept, so
//      (‖text‖ = 1, Cauchy–Schwarz) score ≤ dot(m_p, text) + r_p — one D-dot per photo (Q× cheaper);
//   2. exact: the top-k photos by dot(m_p, text) are scored exactly to get a threshold τ; then only photos
//      whose upper bound exceeds τ are scored exactly (τ rises as the heap fills).
// With `candidates: C` stage 2 stops after the top C by the coarse score — approximate but bounded work:
// the coarse pass is N×D (≈256M MACs, ~290 ms at 1M photos), then C (≈2,000) × Q × D exact MACs. From
// `ivf.minPhotos` (50,000) photos the coarse pass instead probes an IVF over the mean vectors
// (coarse-index.ts, trained lazily on the first such search and again each time the index doubled):
// only the photos of the best `nprobe` lists (≈nprobe·√N/2) get a mean-vector score. If the IVF's own
// calibration says the embeddings have no cluster structure to exploit, the flat coarse pass stays.
// Bad input (wrong dimension, NaN/∞, bad limit) → AppError 'invalid_argument'.
import { dot, itcScore } from '../../runtime/blip2/itc-score.ts';
import { AppError } from '../../shared/errors.ts';
import { CoarseIndex, IVF_MIN_PHOTOS, type CoarseOptions, type CoarseStats } from './coarse-index.ts';
import { assertFinite, EMBED_DIM, QUERY_TOKENS, quantizeInto, type Int8Vectors } from '../catalog/embedding-codec.ts';

export type VectorStorage = 'f32' | 'int8';
const BLOCK_SHIFT = 14;
/** Photos per vector block (16,384: 134 MB of int8 or 537 MB of f32 at 32×256). */
const BLOCK = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK - 1;
export interface VectorIndexOptions { dim?: number; queries?: number; storage?: VectorStorage; capacity?: number; ivf?: CoarseOptions }
export interface SearchOptions {
  limit: number;
  filter?: (photoId: number) => boolean;
  /** Approximate mode: exact-score only the top `candidates` photos by the mean-vector score. */
  candidates?: number;
  /** With `candidates` on an index of ≥ ivf.minPhotos photos: IVF lists to probe (default: the calibrated
   *  nprobe); 0 = flat coarse pass over all mean vectors. Probing goes on past nprobe lists until
   *  `candidates` photos passed the filter (or every list was read). */
  nprobe?: number;
}
export interface SearchHit { photoId: number; score: number }

export class VectorIndex {
  readonly dim: number;
  readonly queries: number;
  readonly storage: VectorStorage;
  private n = 0;
  private cap: number;
  private ids: Float64Array;
  private readonly slotOf = new Map<number, number>();
  // The Q×D vectors live in blocks of BLOCK photos: one typed array cannot exceed 2^32 elements in V8
  // (≈524,000 photos of 32×256 int8), and growing appends a block instead of copying everything.
  private f32: Float32Array[] = [];
  private codes: Int8Array[] = [];
  private scales: Float32Array;
  private means: Float32Array;
  private radius: Float32Array;
  private coarse?: CoarseIndex;
  private readonly ivfOpts: CoarseOptions;
  /** Counters of the last search, for benchmarks: photos scored exactly / by their mean vector. */
  lastExactScored = 0;
  lastCoarseScanned = 0;

  constructor(opts: VectorIndexOptions = {}) {
    this.dim = opts.dim ?? EMBED_DIM;
    this.queries = opts.queries ?? QUERY_TOKENS;
    this.storage = opts.storage ?? 'f32';
    this.cap = Math.max(1, opts.capacity ?? 64);
    const { cap, dim, queries } = this;
    this.ids = new Float64Array(cap);
    this.ensureBlocks(cap);
    this.scales = new Float32Array(this.storage === 'int8' ? cap * queries : 0);
    this.means = new Float32Array(cap * dim);
    this.radius = new Float32Array(cap);
    this.ivfOpts = opts.ivf ?? {};
  }

  get size(): number { return this.n; }
  has(photoId: number): boolean { return this.slotOf.has(photoId); }

  /** Adds or replaces a photo's Q×D float32 embedding (quantized when the storage is int8). */
  add(photoId: number, vectors: Float32Array): void {
    this.checkLength(vectors.length, this.queries * this.dim, 'photo embedding');
    assertFinite(vectors, 'photo embedding');
    const s = this.slotFor(photoId);
    const qd = this.queries * this.dim;
    const b = s >>> BLOCK_SHIFT, at = (s & BLOCK_MASK) * qd;
    if (this.storage === 'f32') this.f32[b].set(vectors, at);
    else quantizeInto(vectors, 0, this.queries, this.dim, this.codes[b], (s & BLOCK_MASK) * this.queries, this.scales, s * this.queries);
    this.updateSummary(s);
    this.coarse?.place(s, this.means);
  }

  /** Adds or replaces a photo from already-quantized int8 vectors (int8 storage only). */
  addInt8(photoId: number, q: Int8Vectors): void {
    if (this.storage !== 'int8') throw new AppError('invalid_argument', 'addInt8 needs an int8 index');
    this.checkLength(q.codes.length, this.queries * this.dim, 'photo embedding');
    this.checkLength(q.scales.length, this.queries, 'photo embedding scales');
    assertFinite(q.scales, 'photo embedding scales');
    const s = this.slotFor(photoId);
    this.codes[s >>> BLOCK_SHIFT].set(q.codes, (s & BLOCK_MASK) * this.queries * this.dim);
    this.scales.set(q.scales, s * this.queries);
    this.updateSummary(s);
    this.coarse?.place(s, this.means);
  }

  remove(photoId: number): boolean {
    const s = this.slotOf.get(photoId);
    if (s === undefined) return false;
    const last = this.n - 1;
    this.coarse?.remove(s, last);
    if (s !== last) { // move the last photo into the hole
      const qd = this.queries * this.dim;
      const [to, from] = [s, last].map((x) => ({ b: x >>> BLOCK_SHIFT, at: (x & BLOCK_MASK) * qd }));
      if (this.storage === 'f32') this.f32[to.b].set(this.f32[from.b].subarray(from.at, from.at + qd), to.at);
      else {
        this.codes[to.b].set(this.codes[from.b].subarray(from.at, from.at + qd), to.at);
        this.scales.copyWithin(s * this.queries, last * this.queries, (last + 1) * this.queries);
      }
      this.means.copyWithin(s * this.dim, last * this.dim, (last + 1) * this.dim);
      this.radius[s] = this.radius[last];
      this.ids[s] = this.ids[last];
      this.slotOf.set(this.ids[s], s);
    }
    this.slotOf.delete(photoId);
    this.n = last;
    return true;
  }

  /** Top photos for a text embedding (Float32Array(D), L2-normalized), best first. */
  search(text: Float32Array, opts: SearchOptions): SearchHit[] {
    this.checkLength(text.length, this.dim, 'text embedding');
    assertFinite(text, 'text embedding');
    const limit = opts.limit;
    if (!Number.isInteger(limit) || limit < 1) throw new AppError('invalid_argument', `limit must be a positive integer, got ${limit}`);
    const cand = opts.candidates;
    if (cand !== undefined && (!Number.isInteger(cand) || cand < 1)) {
      throw new AppError('invalid_argument', `candidates must be a positive integer, got ${cand}`);
    }
    if (opts.nprobe !== undefined && (!Number.isInteger(opts.nprobe) || opts.nprobe < 0)) {
      throw new AppError('invalid_argument', `nprobe must be a non-negative integer, got ${opts.nprobe}`);
    }
    if (cand !== undefined && opts.nprobe !== 0 && this.n >= (this.ivfOpts.minPhotos ?? IVF_MIN_PHOTOS)) {
      if (!this.coarse || this.n >= 2 * this.coarse.stats.trainedAt) this.trainCoarse();
      const nprobe = opts.nprobe ?? this.coarse!.stats.nprobe;
      if (nprobe > 0) return this.searchIvf(text, limit, cand, nprobe, opts.filter);
    }
    let norm = 0;
    for (let i = 0; i < text.length; i++) norm += text[i] * text[i];
    const tNorm = Math.sqrt(norm);
    const { n, dim, means, radius, ids } = this;
    const filter = opts.filter;
    // Stage 1: mean-vector scores for the photos the filter admits (NaN = filtered out).
    const coarse = new Float32Array(n);
    const seedK = Math.max(limit, cand ?? 0);
    const seed = new TopK(seedK);
    for (let s = 0; s < n; s++) {
      if (filter && !filter(ids[s])) { coarse[s] = NaN; continue; }
      const c = dot(means, s * dim, text, 0, dim);
      coarse[s] = c;
      seed.push(c, s);
    }
    // Stage 2: exact scores for the seed, then for every photo whose bound can still beat the k-th best.
    const top = new TopK(limit);
    const done = new Uint8Array(n);
    let scored = 0;
    for (let i = 0; i < seed.size; i++) {
      const s = seed.slots[i];
      done[s] = 1;
      top.push(this.exactScore(s, text), s);
      scored++;
    }
    if (cand === undefined) {
      const eps = 1e-5 * tNorm; // float rounding of the bound
      for (let s = 0; s < n; s++) {
        if (done[s] || Number.isNaN(coarse[s])) continue;
        if (top.size === limit && coarse[s] + radius[s] * tNorm + eps <= top.min()) continue;
        top.push(this.exactScore(s, text), s);
        scored++;
      }
    }
    this.lastExactScored = scored;
    this.lastCoarseScanned = n;
    return top.sorted().map(([score, s]) => ({ photoId: ids[s], score }));
  }

  /** (Re)trains the IVF over the current mean vectors now (else done lazily by a large two-stage search). */
  trainCoarse(): CoarseStats {
    if (this.n === 0) throw new AppError('invalid_argument', 'cannot train the coarse index of an empty vector index');
    this.coarse = CoarseIndex.train(this.means, this.n, this.dim, this.ivfOpts);
    return this.coarse.stats;
  }

  /** The trained IVF's figures, or undefined before the first training. */
  get coarseStats(): CoarseStats | undefined { return this.coarse?.stats; }

  /** Test hook: the IVF lists hold every slot exactly once (true when there is no IVF). */
  coarseConsistent(): boolean { return this.coarse?.check(this.n) ?? true; }

  /** Two-stage search with the IVF as the coarse stage: the best lists' photos by mean-vector score. */
  private searchIvf(text: Float32Array, limit: number, cand: number, nprobe: number, filter?: (photoId: number) => boolean): SearchHit[] {
    const { dim, means, ids } = this;
    const coarse = this.coarse!;
    const order = coarse.listsByScore(text);
    const seed = new TopK(Math.max(limit, cand));
    let scanned = 0, admitted = 0;
    for (let i = 0; i < order.length && (i < nprobe || admitted < seed.k); i++) {
      const members = coarse.members(order[i]);
      scanned += members.length;
      for (let j = 0; j < members.length; j++) {
        const s = members[j];
        if (filter && !filter(ids[s])) continue;
        admitted++;
        seed.push(dot(means, s * dim, text, 0, dim), s);
      }
    }
    const top = new TopK(limit);
    for (let i = 0; i < seed.size; i++) top.push(this.exactScore(seed.slots[i], text), seed.slots[i]);
    this.lastExactScored = seed.size;
    this.lastCoarseScanned = scanned;
    return top.sorted().map(([score, s]) => ({ photoId: ids[s], score }));
  }

  /**
   * Photos most like `photoId`: the source photo's mean query vector (re-normalized) used as the query, i.e.
   * score = max over the other photo's Q vectors of dot(m̂_src, v_q). Chosen over max of the Q×Q pairwise
   * dots because it costs one ordinary search (with the same pruning) instead of Q× more work, and the mean
   * of the query vectors is the photo's most central direction. The photo itself is excluded.
   */
  moreLikeThis(photoId: number, limit: number, filter?: (photoId: number) => boolean): SearchHit[] {
    const s = this.slotOf.get(photoId);
    if (s === undefined) throw new AppError('invalid_argument', `photo ${photoId} is not in the search index`);
    const q = this.means.slice(s * this.dim, (s + 1) * this.dim);
    let norm = 0;
    for (let i = 0; i < q.length; i++) norm += q[i] * q[i];
    if (norm > 0) { const inv = 1 / Math.sqrt(norm); for (let i = 0; i < q.length; i++) q[i] *= inv; }
    return this.search(q, { limit, filter: (id) => id !== photoId && (!filter || filter(id)) });
  }

  /** Exact max-over-queries score of slot s. */
  exactScore(s: number, text: Float32Array): number {
    const { dim, queries } = this;
    const b = s >>> BLOCK_SHIFT, local = s & BLOCK_MASK;
    if (this.storage === 'f32') return itcScore(this.f32[b], text, dim, { queries, featOffset: local * queries * dim });
    // int8: the same max over queries, each dot product dequantized by its vector's scale.
    let best = -Infinity;
    const block = this.codes[b];
    for (let q = 0, base = local * queries * dim, row = s * queries; q < queries; q++, base += dim, row++) {
      const d = dotI8(block, base, text, dim) * this.scales[row];
      if (d > best) best = d;
    }
    return best;
  }

  private slotFor(photoId: number): number {
    if (!Number.isSafeInteger(photoId)) throw new AppError('invalid_argument', `photo id must be an integer, got ${photoId}`);
    const existing = this.slotOf.get(photoId);
    if (existing !== undefined) return existing;
    if (this.n === this.cap) this.grow(Math.ceil(this.cap * 1.5) + 16);
    const s = this.n++;
    this.ids[s] = photoId;
    this.slotOf.set(photoId, s);
    return s;
  }

  private grow(cap: number): void {
    const { dim, queries } = this;
    const resize = <T extends Float32Array | Int8Array | Float64Array>(a: T, per: number, make: (len: number) => T): T => {
      if (a.length === 0) return a;
      const b = make(cap * per);
      b.set(a);
      return b;
    };
    this.ids = resize(this.ids, 1, (l) => new Float64Array(l));
    this.ensureBlocks(cap);
    this.scales = resize(this.scales, queries, (l) => new Float32Array(l));
    this.means = resize(this.means, dim, (l) => new Float32Array(l));
    this.radius = resize(this.radius, 1, (l) => new Float32Array(l));
    this.cap = cap;
  }

  /** Mean vector and radius of slot s, from the stored (possibly dequantized) vectors. */
  private updateSummary(s: number): void {
    const { dim, queries } = this;
    const v = new Float64Array(queries * dim);
    const b = s >>> BLOCK_SHIFT, base = (s & BLOCK_MASK) * queries * dim;
    for (let q = 0; q < queries; q++) {
      const row = s * queries + q;
      for (let i = 0; i < dim; i++) {
        const at = base + q * dim + i;
        v[q * dim + i] = this.storage === 'f32' ? this.f32[b][at] : this.codes[b][at] * this.scales[row];
      }
    }
    const m0 = s * dim;
    for (let i = 0; i < dim; i++) {
      let sum = 0;
      for (let q = 0; q < queries; q++) sum += v[q * dim + i];
      this.means[m0 + i] = sum / queries;
    }
    let r = 0;
    for (let q = 0; q < queries; q++) {
      let d2 = 0;
      for (let i = 0; i < dim; i++) { const d = v[q * dim + i] - this.means[m0 + i]; d2 += d * d; }
      if (d2 > r) r = d2;
    }
    this.radius[s] = Math.sqrt(r) * (1 + 1e-6) + 1e-6; // stored rounding of the mean must not break the bound
  }

  /** Vector blocks for `cap` photos: full blocks of BLOCK, the last one only as large as needed. */
  private ensureBlocks(cap: number): void {
    const per = this.queries * this.dim;
    const list: (Float32Array | Int8Array)[] = this.storage === 'f32' ? this.f32 : this.codes;
    const make = (len: number) => (this.storage === 'f32' ? new Float32Array(len) : new Int8Array(len));
    for (let b = 0; b * BLOCK < cap; b++) {
      const want = Math.min(BLOCK, cap - b * BLOCK) * per;
      const cur = list[b];
      if (cur && cur.length >= want) continue;
      const next = make(want);
      if (cur) next.set(cur as never);
      list[b] = next;
    }
  }

  private checkLength(got: number, want: number, what: string): void {
    if (got !== want) throw new AppError('invalid_argument', `${what} has ${got} values, expected ${want}`);
  }
}

// The int8 dot product; the float32 one is itc-score.ts's `dot` (one function over both array types
// would be polymorphic and slower in V8's hot loop).
function dotI8(a: Int8Array, off: number, b: Float32Array, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[off + i] * b[i]; s1 += a[off + i + 1] * b[i + 1];
    s2 += a[off + i + 2] * b[i + 2]; s3 += a[off + i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[off + i] * b[i];
  return s0 + s1 + s2 + s3;
}

/** Bounded min-heap keeping the k largest (score, slot) pairs. */
class TopK {
  readonly scores: Float64Array;
  readonly slots: Int32Array;
  size = 0;
  constructor(readonly k: number) {
    this.scores = new Float64Array(k);
    this.slots = new Int32Array(k);
  }
  min(): number { return this.size ? this.scores[0] : -Infinity; }
  push(score: number, slot: number): void {
    const { scores, slots } = this;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) { // sift up
        const p = (i - 1) >> 1;
        if (scores[p] <= score) break;
        scores[i] = scores[p]; slots[i] = slots[p]; i = p;
      }
      scores[i] = score; slots[i] = slot;
      return;
    }
    if (score <= scores[0]) return;
    let i = 0; // replace the root and sift down
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const c = l + 1 < this.size && scores[l + 1] < scores[l] ? l + 1 : l;
      if (scores[c] >= score) break;
      scores[i] = scores[c]; slots[i] = slots[c]; i = c;
    }
    scores[i] = score; slots[i] = slot;
  }
  sorted(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.size; i++) out.push([this.scores[i], this.slots[i]]);
    return out.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  }
}
