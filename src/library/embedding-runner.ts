// Computes the search embeddings the catalog lacks: every active photo with a file present and no
// embedding for the encoder's model gets one vision pass (RetrievalEncoder.embedImage, in-process or
// in the worker), stored in the catalog (int8) and optionally added to a live search index.
// Resumable by construction: the work list is "photos without an embedding", each embedding is
// committed as soon as it exists, and a run walks photo ids upwards (a cursor), so no photo is embedded
// twice in a run, a killed run continues where it stopped, and a photo that fails is retried next run.
// Chosen over a 'tags' job per photo: the embedding row itself is the "done" marker, so there is no
// second state to keep in step with it.
import { AppError, type ErrorData, errorCode, toErrorData } from '../shared/errors.ts';
import type { RetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import type { Catalog } from './catalog/catalog.ts';
import type { EmbeddingStorage } from './catalog/embeddings.ts';

export interface EmbedProgress {
  done: number;
  failed: number;
  /** Photos that lacked an embedding when the run started. */
  total: number;
  last?: { photoId: number; path: string; error?: ErrorData };
}

export interface EmbedMissingOptions {
  signal?: AbortSignal;
  onProgress?: (p: EmbedProgress) => void;
  /**
   * Called with the photo's query vectors [queries × embedDim] before its embedding is stored (the
   * tags helper assigns tags from the same features). If it throws, the embedding is not stored and
   * the photo counts as failed, so "has an embedding" always means "the hook ran" and a rerun retries.
   */
  onFeatures?: (photoId: number, features: Float32Array, path: string) => void | Promise<void>;
  /** A live index (PhotoSearch) to keep current. */
  index?: { add(photoId: number, vectors: Float32Array, shape: { queries: number; dim: number }): void };
  storage?: EmbeddingStorage;
  /** Photos read from the catalog at a time. */
  pageSize?: number;
}

export interface EmbedSummary {
  done: number;
  failed: number;
  /** Embedded meanwhile by another process. */
  skipped: number;
  cancelled: boolean;
}

/** Embeds every photo of the catalog that has no embedding for `encoder.modelId` yet. */
export async function embedMissing(catalog: Catalog, encoder: RetrievalEncoder, opts: EmbedMissingOptions = {}): Promise<EmbedSummary> {
  const { modelId } = encoder;
  const shape = { queries: encoder.queries, dim: encoder.embedDim };
  const pageSize = opts.pageSize ?? 64;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new AppError('invalid_argument', `pageSize must be a positive integer, got ${pageSize}`);
  const sum: EmbedSummary = { done: 0, failed: 0, skipped: 0, cancelled: false };
  const total = catalog.missingEmbeddingCount(modelId);
  const report = (last: EmbedProgress['last']) => opts.onProgress?.({ done: sum.done, failed: sum.failed, total, last });
  let after = 0;
  for (;;) {
    const page = catalog.photosWithoutEmbedding(modelId, pageSize, after);
    if (page.length === 0) return sum;
    for (const { photoId, path } of page) {
      if (opts.signal?.aborted) return { ...sum, cancelled: true };
      after = photoId;
      if (catalog.hasEmbedding(photoId, modelId)) { sum.skipped++; continue; }
      try {
        const features = await encoder.embedImage(path);
        await opts.onFeatures?.(photoId, features, path);
        catalog.setEmbedding(photoId, modelId, features, { ...shape, storage: opts.storage });
        opts.index?.add(photoId, features, shape);
        sum.done++;
        report({ photoId, path });
      } catch (err) {
        if (errorCode(err) === 'cancelled' || opts.signal?.aborted) return { ...sum, cancelled: true };
        sum.failed++;
        report({ photoId, path, error: toErrorData(err) });
      }
    }
  }
}
