// Search and tags in the app, once the retrieval model (blip2-itm) is loaded in the worker: the
// in-memory index of stored embeddings (PhotoSearch), the tagger (vocabulary text vectors, cached in
// the catalog) and the per-photo "analysis" the queue runs: store the photo's query vectors, suggest
// its tags, add it to the index. Without the model, search is filter-only (the query then matches
// caption text) and `searchAvailable` is false.
import type { Library } from '../../src/library/library.ts';
import { PhotoSearch } from '../../src/library/search/photo-search.ts';
import { browsePhotos } from '../../src/library/search/filters.ts';
import { PhotoAnalysis } from '../../src/library/photo-analysis.ts';
import type { RetrievalEncoder } from '../../src/runtime/blip2/retrieval-encoder.ts';
import type { SearchResult, SearchResultItem } from '../../src/shared/app-types.ts';
import { AppError, toErrorData } from '../../src/shared/errors.ts';
import type { ParsedArgsOf } from '../../src/shared/ipc-contract.ts';
import type { EventHub } from './event-hub.ts';
import type { InferenceService } from './inference-service.ts';
import { photoSummary, toSearchFilters } from './photo-views.ts';

/** What the queue asks of the analysis side (kept small so the queue does not know about search). */
export interface Analyzer {
  /** The retrieval model, index and tagger are ready to take a photo's features. */
  ready(): boolean;
  /** The photo has no embedding for the current model. */
  wants(photoId: number): boolean;
  /** The next photo that lacks an embedding (present file), skipping those that failed this session. */
  next(): { photoId: number; path: string } | undefined;
  store(photoId: number, features: Float32Array): void;
  /** The photo failed; not offered again until the app restarts. */
  skip(photoId: number): void;
}

export interface SearchServiceOptions {
  lib: Library;
  inference: InferenceService;
  events: EventHub;
  /** New work for the queue (the model became ready). */
  onReady: () => void;
  /** Tags of these photos changed outside the queue (re-tagged after a calibration): rewrite their XMP. */
  onRetagged?: (photoIds: number[]) => void;
}

interface Loaded {
  encoder: RetrievalEncoder;
  index: PhotoSearch;
  analysis: PhotoAnalysis;
}

export class SearchService implements Analyzer {
  private loaded: Loaded | undefined;
  private loading: Promise<void> | undefined;
  private readonly skipped = new Set<number>();
  private closed = false;

  constructor(private readonly o: SearchServiceOptions) {}

  get available(): boolean {
    return this.loaded !== undefined;
  }

  /** The retrieval model id of the stored embeddings in use. */
  get modelId(): string | undefined {
    return this.loaded?.encoder.modelId ?? this.o.inference.retrieval?.modelId;
  }

  /** Follows the retrieval model: (re)loads the index and tagger when it changes. Cheap to call often. */
  refresh(): void {
    const encoder = this.o.inference.retrieval;
    if (this.loaded && this.loaded.encoder === encoder) return;
    if (!encoder) {
      this.loaded = undefined;
      return;
    }
    if (this.loading) {
      void this.loading.then(() => this.refresh());
      return;
    }
    this.loading = this.load(encoder).finally(() => { this.loading = undefined; });
  }

  ready(): boolean {
    return this.loaded !== undefined && this.loaded.encoder === this.o.inference.retrieval;
  }

  wants(photoId: number): boolean {
    return this.ready() && !this.o.lib.catalog.hasEmbedding(photoId, this.loaded!.encoder.modelId);
  }

  next(): { photoId: number; path: string } | undefined {
    if (!this.ready()) return undefined;
    const modelId = this.loaded!.encoder.modelId;
    for (let after = 0; ;) {
      const page = this.o.lib.catalog.photosWithoutEmbedding(modelId, 32, after);
      if (!page.length) {
        this.calibrateIfDue();
        return undefined;
      }
      const hit = page.find((p) => !this.skipped.has(p.photoId));
      if (hit) return { photoId: hit.photoId, path: hit.path };
      after = page[page.length - 1].photoId;
    }
  }

  store(photoId: number, features: Float32Array): void {
    const l = this.loaded;
    if (!l) return;
    l.analysis.store(photoId, features);
    l.index.add(photoId, features, l.analysis.shape);
  }

  skip(photoId: number): void {
    this.skipped.add(photoId);
  }

  async search(args: ParsedArgsOf<'search'>): Promise<SearchResult> {
    const catalog = this.o.lib.catalog;
    const filters = toSearchFilters(args.filters);
    const query = args.query.trim();
    const l = this.loaded;
    if (!query || !l) {
      // Filter-only: without the model a query can still match caption text.
      const f = query ? { ...filters, captionContains: query } : filters;
      const page = browsePhotos(catalog, f, { limit: args.limit });
      return { mode: 'filter', items: page.photoIds.map((id) => ({ ...photoSummary(catalog, id), score: 0 })) };
    }
    const hits = await l.index.search({ query, filters, limit: args.limit, rerank: args.rerank }, l.encoder);
    return { mode: 'semantic', items: hits.map((h) => item(catalog, h)) };
  }

  async moreLikeThis(photoId: number, limit: number): Promise<SearchResult> {
    const l = this.loaded;
    if (!l) throw new AppError('model_missing', 'similar photos need the search model (blip2-itm); choose one in Settings');
    const hits = l.index.moreLikeThis(photoId, { limit });
    return { mode: 'similar', items: hits.map((h) => item(this.o.lib.catalog, h)) };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.loading?.catch(() => {});
    this.loaded = undefined;
  }

  private async load(encoder: RetrievalEncoder): Promise<void> {
    try {
      const catalog = this.o.lib.catalog;
      const index = PhotoSearch.load(catalog, encoder.modelId);
      // Embeds the vocabulary's prompts through the worker the first time (then cached per model).
      const analysis = await PhotoAnalysis.load(catalog, encoder);
      if (this.closed || this.o.inference.retrieval !== encoder) return;
      this.loaded = { encoder, index, analysis };
      this.skipped.clear();
      this.o.events.emit('library:changed', {});
      this.o.onReady();
    } catch (err) {
      this.o.events.emit('problem', toErrorData(err));
    }
  }

  /** Re-calibrates the tag thresholds on the library's embeddings once the backlog is done. */
  private calibrateIfDue(): void {
    const ids = this.loaded?.analysis.recalibrateIfDue() ?? [];
    if (!ids.length) return;
    this.o.onRetagged?.(ids);
    this.o.events.emit('library:changed', {});
  }
}

function item(catalog: Library['catalog'], h: { photoId: number; score: number; itm?: number }): SearchResultItem {
  return { ...photoSummary(catalog, h.photoId), score: h.score, ...(h.itm === undefined ? {} : { itm: h.itm }) };
}
