// One photo's retrieval analysis, the same for `index` and the app: tag suggestions from its query
// vectors first, then the vectors stored (so "has an embedding" always means "was tagged"); and the
// tag thresholds calibrated on the library's own embeddings whenever the library has grown by a
// quarter, re-tagging the embedded photos with them. Writing XMP stays the caller's job.
import type { RetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import type { Catalog } from './catalog/catalog.ts';
import { applyTags, calibrateFromCatalog, loadTagger } from './tagging/photo-tags.ts';
import type { Tagger } from './tagging/tagger.ts';

/** Re-calibrate once the embedded photos outnumber those of the last calibration by this factor. */
const RECALIBRATE_GROWTH = 1.25;

export class PhotoAnalysis {
  private calibratedAt: number;

  constructor(private readonly catalog: Catalog, readonly encoder: RetrievalEncoder, readonly tagger: Tagger) {
    this.calibratedAt = tagger.calibration ? catalog.embeddingCount(encoder.modelId) : 0;
  }

  /** Loads the tagger (embedding the vocabulary's prompts once per model, then cached in the catalog). */
  static async load(catalog: Catalog, encoder: RetrievalEncoder): Promise<PhotoAnalysis> {
    return new PhotoAnalysis(catalog, encoder, await loadTagger(catalog, encoder));
  }

  get modelId(): string {
    return this.encoder.modelId;
  }

  get shape(): { queries: number; dim: number } {
    return { queries: this.encoder.queries, dim: this.encoder.embedDim };
  }

  wants(photoId: number): boolean {
    return !this.catalog.hasEmbedding(photoId, this.modelId);
  }

  /** Suggests the photo's tags, then stores its vectors. */
  store(photoId: number, features: Float32Array): void {
    this.tag(photoId, features);
    this.catalog.setEmbedding(photoId, this.modelId, features, this.shape);
  }

  /** Only the tags (for runners that store the vectors themselves). */
  tag(photoId: number, features: Float32Array): number {
    return applyTags(this.catalog, photoId, features, this.tagger);
  }

  /**
   * Calibrates when the library grew enough since the last calibration and re-tags every embedded
   * photo with the new thresholds. Returns the re-tagged photo ids (their sidecars need a rewrite).
   */
  recalibrateIfDue(): number[] {
    const count = this.catalog.embeddingCount(this.modelId);
    if (count === 0 || (this.calibratedAt > 0 && count < this.calibratedAt * RECALIBRATE_GROWTH)) return [];
    if (!calibrateFromCatalog(this.catalog, this.tagger)) return [];
    this.calibratedAt = count;
    // Ids first: writing tags while a SELECT is still being stepped is not allowed on one connection.
    const ids = Array.from(this.catalog.embeddingsOf(this.modelId), (e) => e.photoId);
    for (const id of ids) {
      const features = this.catalog.embedding(id, this.modelId);
      if (features) this.tag(id, features);
    }
    return ids;
  }
}
