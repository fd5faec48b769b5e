// The photo list the grid shows: filters, sort, search text, and the photos themselves loaded in
// pages by the range the grid can see (so 100,000 photos cost a few pages, not one huge list).
import type { LibraryFilters, PhotoSort, PhotoSummary } from '../lib/contract.ts';
import { coalesce, type Coalesced } from '../lib/coalesce.ts';
import { handleError, type Client } from '../lib/client.ts';

export const PAGE_SIZE = 200;
/** Pages kept in memory; the farthest from what is visible go first. */
const MAX_PAGES = 40;
/** The server returns at most this many results for a semantic or similar search. */
const SEARCH_LIMIT = 500;

/** browse: listPhotos; semantic: search with the retrieval model; similar: more like one photo. */
export type ListMode = 'browse' | 'semantic' | 'similar';

export interface LibraryOptions {
  /** Whether semantic search is possible now (the retrieval model is ready). */
  searchAvailable: () => boolean;
  refreshDelayMs?: number;
}

export class LibraryState {
  filters = $state<LibraryFilters>({});
  sort = $state<PhotoSort>('date-desc');
  /** Search text: semantic with the retrieval model, a caption-text filter without it. */
  query = $state('');
  similarTo = $state<number | null>(null);
  mode = $state<ListMode>('browse');
  total = $state(0);
  /** True once the first answer for the current list arrived. */
  ready = $state(false);
  selectedIndex = $state(-1);

  // Whole pages are replaced, never mutated: no deep proxies over thousands of summaries.
  #pages = $state.raw<ReadonlyMap<number, readonly PhotoSummary[]>>(new Map());

  selected = $derived(this.itemAt(this.selectedIndex));
  filtered = $derived(Object.values(this.filters).some((v) => v !== undefined) || this.query.trim() !== '');

  readonly #client: Client;
  readonly #opts: LibraryOptions;
  readonly #refreshSoon: Coalesced;
  /** Bumped whenever the list's definition changes: answers for an older list are dropped. */
  #generation = 0;
  #inflight = new Set<number>();
  #range = { start: 0, end: PAGE_SIZE };
  #off: (() => void) | null = null;

  constructor(client: Client, opts: LibraryOptions) {
    this.#client = client;
    this.#opts = opts;
    this.#refreshSoon = coalesce(() => this.refresh(), opts.refreshDelayMs ?? 300);
  }

  start(): void {
    this.#off ??= this.#client.on('library:changed', () => this.#refreshSoon());
    void this.reload();
  }

  stop(): void {
    this.#off?.();
    this.#off = null;
    this.#refreshSoon.cancel();
  }

  itemAt(index: number): PhotoSummary | undefined {
    if (index < 0) return undefined;
    return this.#pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  indexOf(photoId: number): number {
    for (const [p, items] of this.#pages) {
      const i = items.findIndex((it) => it.id === photoId);
      if (i >= 0) return p * PAGE_SIZE + i;
    }
    return -1;
  }

  /** How many pages are held now (for tests and diagnostics). */
  get loadedPages(): number[] {
    return [...this.#pages.keys()].sort((a, b) => a - b);
  }

  /** The grid shows [start, end): load the pages that cover it. */
  ensureRange(start: number, end: number): void {
    this.#range = { start: Math.max(0, start), end: Math.max(start + 1, end) };
    if (this.mode !== 'browse') return;
    for (const p of this.#pagesOf(this.#range)) {
      if (!this.#pages.has(p) && !this.#inflight.has(p)) void this.#loadPage(p);
    }
  }

  select(index: number): void {
    this.selectedIndex = this.total === 0 ? -1 : Math.min(Math.max(index, 0), this.total - 1);
  }

  setFilters(patch: Partial<LibraryFilters>): void {
    this.filters = clean({ ...this.filters, ...patch });
    void this.reload();
  }

  setSort(sort: PhotoSort): void {
    this.sort = sort;
    void this.reload();
  }

  setQuery(query: string): void {
    this.query = query;
    this.similarTo = null;
    void this.reload();
  }

  showSimilar(photoId: number | null): void {
    this.similarTo = photoId;
    void this.reload();
  }

  clearFilters(): void {
    this.filters = {};
    this.query = '';
    this.similarTo = null;
    void this.reload();
  }

  /** The list's definition changed: start over from the top. */
  async reload(): Promise<void> {
    this.#generation += 1;
    this.#inflight.clear();
    this.#pages = new Map();
    this.ready = false;
    this.selectedIndex = -1;
    this.#range = { start: 0, end: PAGE_SIZE };
    await this.#fetch(this.#generation);
  }

  /** The photos changed (new files, captions): refetch what is visible, keep the rest of the view. */
  async refresh(): Promise<void> {
    this.#generation += 1;
    this.#inflight.clear();
    await this.#fetch(this.#generation);
  }

  async #fetch(gen: number): Promise<void> {
    const query = this.query.trim();
    if (this.similarTo !== null) {
      this.mode = 'similar';
      await this.#loadAll(gen, () => this.#client.call('moreLikeThis', { photoId: this.similarTo!, limit: SEARCH_LIMIT }));
    } else if (query && this.#opts.searchAvailable()) {
      this.mode = 'semantic';
      const filters = this.#effectiveFilters();
      await this.#loadAll(gen, () => this.#client.call('search', { query, filters, limit: SEARCH_LIMIT }));
    } else {
      this.mode = 'browse';
      const pages = [...this.#pagesOf(this.#range)];
      const loaded = await Promise.all(pages.map((p) => this.#requestPage(p, gen)));
      if (gen !== this.#generation) return;
      const next = new Map<number, readonly PhotoSummary[]>();
      pages.forEach((p, i) => loaded[i] && next.set(p, loaded[i]));
      this.#pages = next;
      this.ready = true;
    }
  }

  async #loadAll(gen: number, call: () => Promise<{ items: PhotoSummary[] }>): Promise<void> {
    try {
      const { items } = await call();
      if (gen !== this.#generation) return;
      const next = new Map<number, readonly PhotoSummary[]>();
      for (let i = 0; i < items.length; i += PAGE_SIZE) next.set(i / PAGE_SIZE, items.slice(i, i + PAGE_SIZE));
      this.#pages = next;
      this.total = items.length;
    } catch (err) {
      if (gen === this.#generation) handleError(err, 'Searching');
    } finally {
      if (gen === this.#generation) this.ready = true;
    }
  }

  async #loadPage(p: number): Promise<void> {
    const gen = this.#generation;
    const items = await this.#requestPage(p, gen);
    if (gen !== this.#generation || !items) return;
    const next = new Map(this.#pages);
    next.set(p, items);
    this.#evict(next);
    this.#pages = next;
    this.ready = true;
  }

  /** One listPhotos call; sets the total; null when it failed or the list changed meanwhile. */
  async #requestPage(p: number, gen: number): Promise<readonly PhotoSummary[] | null> {
    this.#inflight.add(p);
    try {
      const page = await this.#client.call('listPhotos', {
        filters: this.#effectiveFilters(), sort: this.sort, offset: p * PAGE_SIZE, limit: PAGE_SIZE,
      });
      if (gen !== this.#generation) return null;
      this.total = page.total;
      return page.items;
    } catch (err) {
      if (gen === this.#generation) handleError(err, 'Loading photos');
      return null;
    } finally {
      if (gen === this.#generation) this.#inflight.delete(p);
    }
  }

  #pagesOf(range: { start: number; end: number }): Set<number> {
    const pages = new Set<number>();
    const last = this.total > 0 ? Math.min(range.end, this.total) - 1 : range.start;
    for (let p = Math.floor(range.start / PAGE_SIZE); p <= Math.floor(Math.max(last, range.start) / PAGE_SIZE); p++) pages.add(p);
    return pages;
  }

  #evict(pages: Map<number, readonly PhotoSummary[]>): void {
    if (pages.size <= MAX_PAGES) return;
    const centre = Math.floor(this.#range.start / PAGE_SIZE);
    const farthest = [...pages.keys()].sort((a, b) => Math.abs(b - centre) - Math.abs(a - centre));
    for (const p of farthest.slice(0, pages.size - MAX_PAGES)) pages.delete(p);
  }

  /** Without the retrieval model, search text filters captions instead (said so in the search bar). */
  #effectiveFilters(): LibraryFilters {
    const filters = $state.snapshot(this.filters) as LibraryFilters;
    const query = this.query.trim();
    if (query && !this.#opts.searchAvailable()) filters.captionContains = query;
    return clean(filters);
  }
}

/** Drops unset filters (empty strings, empty lists) so main sees only what the user chose. */
function clean(filters: LibraryFilters): LibraryFilters {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(filters)) {
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out as LibraryFilters;
}
