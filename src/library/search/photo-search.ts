// Semantic photo search over the catalog: a text query → ranked photos, with library filters, an
// optional ITM re-rank, "more like this", and filter-only browsing. Holds one in-memory VectorIndex
// (int8) of the stored embeddings of one retrieval model; the model itself is behind a
// RetrievalEncoder (in-process or the worker), passed per call, so this class never loads ONNX.
//
// Ranking: ITC = max over the photo's query vectors of dot(query vector, text vector) (BLIP-2's
// Blip2ForImageTextRetrieval similarity). Re-rank: the top `rerank.top` ITC candidates are scored
// with ITM (P(match) from the Q-Former's cross-attention over the image) and reordered by it exactly.
// ITM needs the image's vision features, which are not stored (257 × 1408 floats = 1.4 MB per photo):
// every re-ranked photo costs a full ViT-g vision pass + an ITM Q-Former pass (roughly 0.5–1 s per
// photo on a laptop CPU for ViT-g), so the default is the top 16; LAVIS re-ranks 128 on a GPU.
import { AppError } from '../../shared/errors.ts';
import type { RetrievalEncoder } from '../../runtime/blip2/retrieval-encoder.ts';
import type { Catalog } from '../catalog/catalog.ts';
import { decodeStored } from '../catalog/embeddings.ts';
import { type BrowseOptions, type BrowsePage, type SearchFilters, browsePhotos, parseFilters, photoPredicate } from '../catalog/photo-filters.ts';
import { VectorIndex, type VectorStorage } from './vector-search.ts';

export interface PhotoHit {
  photoId: number;
  /** ITC similarity (max over query vectors). */
  score: number;
  /** ITM match probability, for re-ranked hits. */
  itm?: number;
}

export interface SearchRequest {
  query: string;
  filters?: SearchFilters;
  /** 1…MAX_LIMIT, default 20. */
  limit?: number;
  /** true = re-rank the top DEFAULT_RERANK_TOP; or how many to re-rank (1…MAX_RERANK_TOP). */
  rerank?: boolean | { top: number };
  /** Stops between ITM passes (AppError 'cancelled'). */
  signal?: AbortSignal;
}

/** Up to this many photos every search is exact; above it, two-stage (coarse then exact). */
export const EXACT_SEARCH_MAX = 10_000;
const TWO_STAGE_CANDIDATES = 2_000;
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 1000;
export const DEFAULT_RERANK_TOP = 16;
export const MAX_RERANK_TOP = 128;
/** Queries are whitespace-collapsed and clipped to this many characters before the cache and the
 *  encoder (the Q-Former reads 32 tokens; same bound as the encoder's MAX_TEXT_CHARS). */
export const MAX_QUERY_CHARS = 2000;

export class PhotoSearch {
  private index?: VectorIndex;

  private constructor(readonly catalog: Catalog, readonly modelId: string, private readonly storage: VectorStorage) {}

  /** Loads the stored embeddings of `modelId` (int8 in memory: 8.3 KB per photo for 32 × 256). */
  static load(catalog: Catalog, modelId: string, opts: { storage?: VectorStorage } = {}): PhotoSearch {
    if (typeof modelId !== 'string' || modelId === '') throw new AppError('invalid_argument', 'PhotoSearch needs a retrieval model id');
    const s = new PhotoSearch(catalog, modelId, opts.storage ?? 'int8');
    const capacity = catalog.embeddingCount(modelId);
    for (const e of catalog.embeddingsOf(modelId)) {
      const index = s.indexFor(e.queries, e.dim, capacity);
      if (e.int8 && index.storage === 'int8') index.addInt8(e.photoId, e.int8);
      else index.add(e.photoId, decodeStored(e));
    }
    return s;
  }

  /** Photos in the index. */
  get size(): number {
    return this.index?.size ?? 0;
  }

  has(photoId: number): boolean {
    return this.index?.has(photoId) ?? false;
  }

  /** Adds or replaces a photo after its embedding was written to the catalog. */
  add(photoId: number, vectors: Float32Array, shape: { queries: number; dim: number }): void {
    this.indexFor(shape.queries, shape.dim).add(photoId, vectors);
  }

  remove(photoId: number): boolean {
    return this.index?.remove(photoId) ?? false;
  }

  /** Photos best matching the query text, best first. */
  async search(req: SearchRequest, encoder: RetrievalEncoder): Promise<PhotoHit[]> {
    const query = cleanQuery(req.query);
    const limit = checkLimit(req.limit ?? DEFAULT_LIMIT);
    const top = rerankTop(req.rerank);
    const filters = parseFilters(req.filters);
    if (encoder.modelId !== this.modelId) {
      throw new AppError('invalid_argument', `the search index holds embeddings of ${this.modelId}, but the encoder is ${encoder.modelId}`);
    }
    if (!this.index || this.index.size === 0) return [];
    const text = await this.textVector(query, encoder);
    const filter = photoPredicate(this.catalog, filters);
    // Large libraries: two-stage — a coarse mean-vector pass, then exact scoring of the best candidates only.
    // From IVF_MIN_PHOTOS (50,000) the VectorIndex makes the coarse pass probe its IVF (coarse-index.ts) when
    // the IVF's calibration finds cluster structure, else keeps the flat pass (npm run bench:search, p95:
    // 100k photos ~50 ms flat, ~30 ms IVF, 1.1 s exact; 1M photos ~320 ms flat, ~60 ms IVF, 10 s exact).
    const candidates = this.index.size > EXACT_SEARCH_MAX ? Math.max(TWO_STAGE_CANDIDATES, 4 * Math.max(limit, top)) : undefined;
    const hits: PhotoHit[] = this.index.search(text, { limit: Math.max(limit, top), filter, candidates });
    if (top > 0) await this.rerank(hits, Math.min(top, hits.length), query, encoder, req.signal);
    return hits.slice(0, limit);
  }

  /** Photos most like `photoId` (its mean query direction; see VectorIndex.moreLikeThis); itself excluded. */
  moreLikeThis(photoId: number, opts: { limit?: number; filters?: SearchFilters } = {}): PhotoHit[] {
    const limit = checkLimit(opts.limit ?? DEFAULT_LIMIT);
    const filters = parseFilters(opts.filters);
    if (!Number.isSafeInteger(photoId) || !this.catalog.photo(photoId)) {
      throw new AppError('invalid_argument', `no photo with id ${photoId} in the catalog`);
    }
    if (!this.has(photoId)) {
      // Another process (the indexer) may have written it since this index was loaded.
      const stored = this.catalog.storedEmbedding(photoId, this.modelId);
      if (!stored) throw new AppError('invalid_argument', `photo ${photoId} has no embedding yet (it is still queued for analysis)`);
      this.add(photoId, decodeStored(stored), stored);
    }
    return this.index!.moreLikeThis(photoId, limit, photoPredicate(this.catalog, filters));
  }

  /** Filter-only listing, no query: see filters.ts browsePhotos. */
  browse(filters: SearchFilters = {}, opts: BrowseOptions = {}): BrowsePage {
    return browsePhotos(this.catalog, filters, opts);
  }

  /** The query's text vector, from the catalog's cache or computed once and cached. */
  private async textVector(query: string, encoder: RetrievalEncoder): Promise<Float32Array> {
    const cached = this.catalog.textEmbeddings(this.modelId, [query]).get(query);
    if (cached && cached.length === encoder.embedDim) return cached;
    const [v] = await encoder.embedTexts([query]);
    this.catalog.storeTextEmbeddings(this.modelId, [[query, v]]);
    return v;
  }

  /**
   * Reorders hits[0..top) by ITM probability (ties keep ITC order). A photo whose file cannot be read
   * now (drive offline) keeps its ITC place after the re-ranked ones rather than failing the search.
   */
  private async rerank(hits: PhotoHit[], top: number, query: string, encoder: RetrievalEncoder, signal?: AbortSignal): Promise<void> {
    const scored: PhotoHit[] = [];
    const unreadable: PhotoHit[] = [];
    for (const hit of hits.slice(0, top)) {
      if (signal?.aborted) throw new AppError('cancelled', 'search cancelled');
      const path = this.catalog.photoPaths(hit.photoId)[0];
      try {
        if (path === undefined) throw new AppError('photo_unreadable', `photo ${hit.photoId} has no file present`);
        const [p] = await encoder.itm(path, [query]);
        scored.push({ ...hit, itm: p });
      } catch (err) {
        if ((err as { code?: unknown }).code === 'cancelled') throw err;
        unreadable.push(hit);
      }
    }
    scored.sort((a, b) => b.itm! - a.itm! || b.score - a.score);
    hits.splice(0, top, ...scored, ...unreadable);
  }

  private indexFor(queries: number, dim: number, capacity?: number): VectorIndex {
    if (!this.index) this.index = new VectorIndex({ queries, dim, storage: this.storage, capacity });
    else if (this.index.queries !== queries || this.index.dim !== dim) {
      throw new AppError('invalid_argument', `embedding shape ${queries} × ${dim} does not match the index (${this.index.queries} × ${this.index.dim}) of ${this.modelId}`);
    }
    return this.index;
  }
}

/** Trims, collapses whitespace and clips; an empty query is an error. */
export function cleanQuery(query: unknown): string {
  if (typeof query !== 'string') throw new AppError('invalid_argument', 'the search query must be text');
  const clean = query.replace(/\s+/g, ' ').trim();
  if (clean === '') throw new AppError('invalid_argument', 'the search query is empty');
  return clean.length > MAX_QUERY_CHARS ? clean.slice(0, MAX_QUERY_CHARS).trimEnd() : clean;
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new AppError('invalid_argument', `limit must be an integer from 1 to ${MAX_LIMIT}, got ${limit}`);
  }
  return limit;
}

function rerankTop(rerank: SearchRequest['rerank']): number {
  if (rerank === undefined || rerank === false) return 0;
  if (rerank === true) return DEFAULT_RERANK_TOP;
  const top = rerank?.top;
  if (!Number.isInteger(top) || top < 1 || top > MAX_RERANK_TOP) {
    throw new AppError('invalid_argument', `rerank top must be an integer from 1 to ${MAX_RERANK_TOP} (each re-ranked photo costs a vision pass), got ${top}`);
  }
  return top;
}
