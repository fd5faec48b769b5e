// `search`: find photos in a catalog by what they show (BLIP-2 ITC over the stored embeddings,
// optionally re-ranked with ITM), by filters alone, or "more like" a photo. The retrieval model runs
// in-process here: one query needs one text pass (cached in the catalog), plus one vision pass per
// re-ranked photo.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { Catalog } from '../library/catalog/catalog.ts';
import { RETRIEVAL_MODEL_SETTING } from '../library/catalog/settings.ts';
import { type SearchFilters, browsePhotos, hasFilters, parseFilters } from '../library/catalog/photo-filters.ts';
import { DEFAULT_RERANK_TOP, type PhotoHit, PhotoSearch } from '../library/search/photo-search.ts';
import { LocalRetrievalEncoder, retrievalModelId } from '../runtime/blip2/retrieval-encoder.ts';
import { readManifest } from '../runtime/model-folder.ts';
import { intFlag, sessionSettings } from './generation-flags.ts';

interface SearchFlags {
  db: string; limit: string; rerank?: boolean; rerankTop?: string; json?: boolean; folder?: string; from?: string; to?: string;
  tag: string[]; withoutTag: string[]; captionContains?: string; model?: string; like?: string; threads?: string;
}

const collect = (v: string, all: string[]) => [...all, v];

export function addSearchCommands(program: Command): void {
  program
    .command('search')
    .description('find photos by a description (BLIP-2 retrieval), by filters alone, or --like a photo')
    .argument('[query]', 'what the photo shows, in words')
    .requiredOption('--db <catalog.db>', 'catalog file')
    .option('--limit <n>', 'how many photos to list', '20')
    .option('--rerank', `re-rank the top ${DEFAULT_RERANK_TOP} with ITM (more precise; one vision pass per photo)`)
    .option('--rerank-top <n>', 're-rank this many of the top results (implies --rerank)')
    .option('--json', 'one JSON object per line: {photoId, path, score, itm?, caption?}')
    .option('--folder <path>', 'only photos under this folder')
    .option('--from <date>', 'taken on or after YYYY[-MM[-DD]]')
    .option('--to <date>', 'taken on or before YYYY[-MM[-DD]]')
    .option('--tag <label>', 'only photos with this tag (repeatable)', collect, [])
    .option('--without-tag <label>', 'only photos without this tag (repeatable)', collect, [])
    .option('--caption-contains <text>', 'only photos whose caption contains this text')
    .option('--model <dir>', `retrieval model folder (default: the one \`index --retrieval-model\` recorded)`)
    .option('--like <photoId|path>', 'photos most like this one (no query)')
    .option('--threads <n>', 'CPU threads for inference (default: all cores)')
    .action(async (query: string | undefined, o: SearchFlags) => {
      const db = resolve(o.db);
      if (!existsSync(db)) throw new AppError('invalid_argument', 'no catalog here; run index first', { file: db });
      const limit = intFlag(o.limit, '--limit', 1)!;
      const rerankTop = intFlag(o.rerankTop, '--rerank-top', 1);
      const rerank = rerankTop !== undefined ? { top: rerankTop } : !!o.rerank;
      if (query !== undefined && o.like !== undefined) throw new AppError('invalid_argument', 'give either a query or --like, not both');
      if (rerank && query === undefined) throw new AppError('invalid_argument', '--rerank needs a query');
      const filters = filtersOf(o);
      if (query === undefined && o.like === undefined && !hasFilters(filters)) {
        throw new AppError('invalid_argument', 'give a query, --like <photo> or at least one filter');
      }

      const catalog = Catalog.open(db);
      try {
        if (query === undefined && o.like === undefined) {
          const page = browsePhotos(catalog, filters, { limit });
          for (const photoId of page.photoIds) print(catalog, { photoId }, o.json);
          if (!o.json) process.stderr.write(`${page.photoIds.length} of ${page.total} matching photo(s)\n`);
          return;
        }
        const dir = modelDir(catalog, o.model);
        let hits: PhotoHit[];
        if (o.like !== undefined) {
          const m = await readManifest(dir);
          const search = PhotoSearch.load(catalog, retrievalModelId(dir, m.quantization?.weights ?? 'fp32', m.createdAt));
          hits = search.moreLikeThis(photoOf(catalog, o.like), { limit, filters });
        } else {
          const encoder = await LocalRetrievalEncoder.load(dir, sessionSettings(o));
          try {
            const search = PhotoSearch.load(catalog, encoder.modelId);
            notSearchable(catalog, encoder.modelId);
            hits = await search.search({ query: query!, filters, limit, rerank }, encoder);
          } finally {
            await encoder.dispose();
          }
        }
        for (const h of hits) print(catalog, h, o.json);
      } finally {
        catalog.close();
      }
    });
}

function filtersOf(o: SearchFlags): SearchFilters {
  return parseFilters({
    ...(o.folder !== undefined ? { folder: resolve(o.folder) } : {}),
    ...(o.from !== undefined ? { dateFrom: o.from } : {}),
    ...(o.to !== undefined ? { dateTo: o.to } : {}),
    ...(o.tag.length ? { hasTags: o.tag } : {}),
    ...(o.withoutTag.length ? { lacksTags: o.withoutTag } : {}),
    ...(o.captionContains !== undefined ? { captionContains: o.captionContains } : {}),
  });
}

function modelDir(catalog: Catalog, flag: string | undefined): string {
  if (flag !== undefined) return resolve(flag);
  const stored = catalog.getSetting<string>(RETRIEVAL_MODEL_SETTING);
  if (typeof stored === 'string' && stored !== '') return stored;
  throw new AppError('model_missing', 'no retrieval model configured for this catalog; run index with --retrieval-model or pass --model');
}

/** A photo id, or a path the catalog knows. */
function photoOf(catalog: Catalog, like: string): number {
  if (/^\d+$/.test(like)) return Number(like);
  const file = catalog.fileByPath(resolve(like));
  if (!file) throw new AppError('invalid_argument', 'this file is not in the catalog (index its folder first)', { file: resolve(like) });
  return file.photoId;
}

function notSearchable(catalog: Catalog, modelId: string): void {
  const n = catalog.missingEmbeddingCount(modelId);
  if (n > 0) process.stderr.write(`note: ${n} photo(s) are not searchable yet; run index with --retrieval-model to analyse them\n`);
}

function print(catalog: Catalog, h: Partial<PhotoHit> & { photoId: number }, json: boolean | undefined): void {
  const path = catalog.photoPaths(h.photoId)[0] ?? null;
  const caption = catalog.currentCaption(h.photoId)?.text;
  if (json) {
    process.stdout.write(`${JSON.stringify({ photoId: h.photoId, path, ...(h.score !== undefined ? { score: h.score } : {}), ...(h.itm !== undefined ? { itm: h.itm } : {}), ...(caption !== undefined ? { caption } : {}) })}\n`);
    return;
  }
  const score = h.score !== undefined ? `${h.score.toFixed(4)}  ` : '';
  const itm = h.itm !== undefined ? `itm ${h.itm.toFixed(4)}  ` : '';
  process.stdout.write(`${`${score}${itm}${path ?? `(photo ${h.photoId}, no file)`}  ${caption ?? ''}`.trimEnd()}\n`);
}
