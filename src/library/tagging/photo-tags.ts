// Tags for photos in the catalog: what `index` and the app call once a photo's query vectors are
// known (from the worker or the catalog's stored embeddings). Loads the tagger with the catalog's
// vocabulary, text vector cache and calibration; writes AI suggestions through the catalog, which
// keeps provenance and never revives a rejected tag. Writing XMP afterwards is the caller's job
// (MetadataSync.write), so one photo's caption and tags go out in one sidecar write.
import type { RetrievalEncoder } from '../../runtime/blip2/retrieval-encoder.ts';
import type { Catalog } from '../catalog/catalog.ts';
import { decodeStored } from '../catalog/embeddings.ts';
import { type CalibrateOptions, type TagCalibration, calibrate, loadCalibration, saveCalibration } from './calibration.ts';
import { type AssignOptions, Tagger, type TagHit } from './tagger.ts';
import { catalogTextCache } from './text-embedding-cache.ts';
import { loadVocabulary } from './vocabulary.ts';

/** A tagger over the shipped + user vocabulary, text vectors cached in the catalog, the stored calibration. */
export async function loadTagger(
  catalog: Catalog,
  encoder: Pick<RetrievalEncoder, 'modelId' | 'embedDim' | 'embedTexts'>,
  opts: AssignOptions & { vocabularyFile?: string } = {},
): Promise<Tagger> {
  const { vocabularyFile, ...assign } = opts;
  return Tagger.create(loadVocabulary(catalog, vocabularyFile), encoder, {
    ...assign,
    cache: catalogTextCache(catalog),
    calibration: loadCalibration(catalog, encoder.modelId),
  });
}

/**
 * Suggests tags for the photo from its query vectors (withdrawing earlier suggestions that no longer
 * pass; accepted, rejected and user tags stay); labels the user rejected for this photo are
 * skipped before ranking (so the next best takes the slot) and the catalog refuses them anyway.
 * Returns how many labels were new for the photo.
 */
export function applyTags(catalog: Catalog, photoId: number, features: Float32Array, tagger: Tagger, opts: AssignOptions = {}): number {
  // Replaces the photo's earlier suggestions: after a re-calibration, labels that no longer pass go.
  return catalog.replaceAiSuggestions(photoId, assignForPhoto(catalog, photoId, features, tagger, opts).map(({ label, score }) => ({ label, score })));
}

/** The tags `applyTags` would suggest, without writing them. */
export function assignForPhoto(catalog: Catalog, photoId: number, features: Float32Array, tagger: Tagger, opts: AssignOptions = {}): TagHit[] {
  const rejected = catalog.allTags(photoId).filter((t) => t.state === 'rejected').map((t) => t.label);
  return tagger.assign(features, { ...opts, exclude: [...rejected, ...(opts.exclude ?? [])] });
}

export interface CatalogCalibrationOptions extends Partial<Pick<CalibrateOptions, 'priorImages' | 'falseTagsPerPhoto' | 'now'>> {
  /** Use at most this many photos, spread evenly over the library (default 2000). */
  maxImages?: number;
}

/**
 * Calibrates the tagger's model on the photos embedded in the catalog, stores the result (setting
 * `tagThresholds:<modelId>`) and makes the tagger use it. Returns undefined when no photo has an
 * embedding for the model yet (the tagger stays as it was).
 */
export function calibrateFromCatalog(catalog: Catalog, tagger: Tagger, opts: CatalogCalibrationOptions = {}): TagCalibration | undefined {
  const total = catalog.embeddingCount(tagger.modelId);
  if (total === 0) return undefined;
  const stride = Math.max(1, Math.ceil(total / (opts.maxImages ?? 2000)));
  const features: Float32Array[] = [];
  let i = 0;
  for (const e of catalog.embeddingsOf(tagger.modelId)) {
    if (i++ % stride === 0 && e.dim === tagger.dim) features.push(decodeStored(e));
  }
  if (!features.length) return undefined;
  const c = calibrate(features, tagger.textVectors, tagger.prompts, {
    modelId: tagger.modelId,
    vocabularyHash: tagger.vocabulary.hash,
    priorImages: opts.priorImages,
    falseTagsPerPhoto: opts.falseTagsPerPhoto,
    now: opts.now ?? catalog.now,
  });
  saveCalibration(catalog, c);
  tagger.setCalibration(c);
  return c;
}
