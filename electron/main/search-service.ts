// Search and tags in the app, once the retrieval model (blip2-itm) is loaded in the worker: the
// in-memory index of stored embeddings (PhotoSearch), the tagger (vocabulary text vectors, cached in
// the catalog) and the per-photo "analysis" the queue runs: store the photo's query vectors, suggest
// its tags, add it to the index — worked by the photo indexer through `setup()`. Without the model,
// search is filter-only (the query then matches caption text) and `searchAvailable` is false.
import type { Library } from '../../src/library/library.ts';
import { PhotoSearch } from '../../src/library/search/photo-search.ts';
import { browsePhotos } from '../../src/library/catalog/photo-filters.ts';
import type { SearchSetup } from '../../src/library/indexer/photo-indexer.ts';
import { PhotoAnalysis } from '../../src/library/photo-analysis.ts';
import type { RetrievalEncoder } from '../../src/runtime/blip2/retrieval-encoder.ts';
import type { SearchResult, SearchResultItem } from '../../src/shared/app-types.ts';
import { AppError, toErrorData } from '../../src/shared/errors.ts';
import type { ParsedArgsOf } from '../../src/shared/ipc-contract.ts';
import type { EventHub } from './event-hub.ts';
import type { InferenceService } from './inference-service.ts';
import { photoSummary, toSearchFilters } from './photo-views.ts';

export interface SearchServiceOptions {
  lib: Library;
  inference: InferenceService;
  events: EventHub;
  /** New work for the queue (the model became ready). */
  onReady: () => void;
}

interface Loaded {
  encoder: RetrievalEncoder;
  index: PhotoSearch;
  analysis: PhotoAnalysis;
}

export class SearchService {
  private loaded: Loaded | undefined;
  private loading: Promise<void> | undefined;
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

  /** What the photo indexer stores each photo's vectors and tags with, once the model is ready. */
  setup(): SearchSetup | undefined {
    return this.ready() ? { analysis: this.loaded!.analysis, index: this.loaded!.index } : undefined;
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
      this.o.events.emit('library:changed', {});
      this.o.onReady();
    } catch (err) {
      this.o.events.emit('problem', toErrorData(err));
    }
  }
}

function item(catalog: Library['catalog'], h: { photoId: number; score: number; itm?: number }): SearchResultItem {
  return { ...photoSummary(catalog, h.photoId), score: h.score, ...(h.itm === undefined ? {} : { itm: h.itm }) };
}
