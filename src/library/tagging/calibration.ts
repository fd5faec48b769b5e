// Turning BLIP-2 ITC similarities into tag decisions that mean the same thing for every model.
//
// Why: an ITC score is a cosine (max over the 32 query vectors) whose typical level and spread depend
// on the checkpoint, its quantization and even the photo (busy photos score higher against every
// text), and some prompts score high against every photo ("hub" labels such as "a close-up photo").
// A fixed absolute threshold (say 0.3) is therefore meaningless across models, and even within one.
//
// Method (robust standardizations, then a threshold set by a false-tag budget):
//   1. Per photo, against the vocabulary: z_t = (s_t − median_t' s_t') / (1.4826 · MAD_t' s_t').
//      A photo shows only a handful of a thousand labels, so the median and MAD describe the labels it
//      does NOT show; z says how far label t stands out. Any affine change of the scores
//      (s ↦ a + b·s, b > 0: a model's offset or spread) leaves z unchanged. Needs no calibration data.
//   2. Per label, across calibration photos (the library's own embeddings): the label's z has a
//      typical level μ_t (high for hub labels) and spread σ_t, estimated robustly (median, 1.4826·MAD:
//      unmoved while fewer than half of the photos really show the label) and shrunk towards the
//      uncalibrated prior (μ = 0, σ = 1) with the weight of PRIOR_IMAGES photos, so a small library
//      moves them only a little. Calibrated score: ẑ_t = (z_t − μ_t) / σ_t.
//   3. One threshold per model: the ẑ that a label the photo does not show exceeds with probability
//      falseTagsPerPhoto / vocabulary size, from an exponential tail fitted to the pooled ẑ of the
//      calibration photos (see tailThreshold). So "0.25 wrong tags per photo on average" holds for
//      every model instead of a number tuned by hand for one.
// A tag is assigned when ẑ_t ≥ threshold. Uncalibrated (no library yet, the CLI without a catalog)
// μ = 0, σ = 1 and the threshold is DEFAULT_THRESHOLD. Tested on synthetic data with planted labels
// and hub labels (test/library/tagging/calibration.test.ts): precision and recall, and invariance.
import { AppError } from '../../shared/errors.ts';
import { itcScore } from '../../runtime/blip2/itc-score.ts';
import type { Catalog } from '../catalog/catalog.ts';

/** Uncalibrated: a tag needs z ≥ 3.5, i.e. 3.5 robust standard deviations above the photo's typical label. */
export const DEFAULT_THRESHOLD = 3.5;
/** Calibrated: the threshold lets this many wrong tags per photo through on average. */
export const DEFAULT_FALSE_TAGS_PER_PHOTO = 0.25;
/** Weight of the uncalibrated prior (μ = 0, σ = 1) in photos' worth of evidence. */
export const PRIOR_IMAGES = 10;
/** Lower bound on σ_t so a label with a near-constant score cannot produce huge ẑ. */
const MIN_SIGMA = 0.1;
const MAD_TO_SIGMA = 1.4826;

/** What is persisted per model (catalog setting `tagThresholds:<modelId>`). */
export interface TagCalibration {
  version: 1;
  modelId: string;
  /** Hash of the vocabulary it was computed for; prompts added later fall back to the prior. */
  vocabularyHash: string;
  /** Calibration photos used. */
  images: number;
  createdAt: number;
  /** The ẑ a tag needs with this calibration (step 3), unless the caller overrides it. */
  threshold: number;
  falseTagsPerPhoto: number;
  /** Per prompt text: [μ_t, σ_t] of the photo-normalized score, after shrinkage. */
  prompts: Record<string, [number, number]>;
}

export interface CalibrateOptions {
  modelId: string;
  vocabularyHash: string;
  priorImages?: number;
  /** How many wrong tags per photo the threshold lets through on average (default 0.25). */
  falseTagsPerPhoto?: number;
  now?: () => number;
}

/**
 * ITC similarity of one photo with every text: max over the photo's query vectors of the dot product.
 * `features` is [queries × dim], `texts` is [count × dim] row-major; all vectors L2-normalized.
 */
export function similarities(features: Float32Array, texts: Float32Array, dim: number, out = new Float32Array(texts.length / dim)): Float32Array {
  if (dim < 1 || features.length === 0 || features.length % dim !== 0) {
    throw new AppError('invalid_argument', `image features have ${features.length} values, not a whole number of ${dim}-wide query vectors`);
  }
  for (let t = 0, n = texts.length / dim; t < n; t++) out[t] = itcScore(features, texts, dim, { textOffset: t * dim });
  return out;
}

/** Step 1: robust z-scores of one photo's scores against the whole vocabulary. */
export function photoZScores(raw: Float32Array, out = new Float32Array(raw.length)): Float32Array {
  const { center, spread } = robust(raw);
  const s = Math.max(spread, 1e-6);
  for (let i = 0; i < raw.length; i++) out[i] = (raw[i] - center) / s;
  return out;
}

/** Step 2 applied: ẑ_t = (z_t − μ_t) / σ_t. */
export function calibratedScores(raw: Float32Array, mu: Float32Array, sigma: Float32Array): Float32Array {
  const z = photoZScores(raw);
  for (let i = 0; i < z.length; i++) z[i] = (z[i] - mu[i]) / sigma[i];
  return z;
}

/** Steps 2 and 3 learned from raw score rows (one Float32Array per calibration photo, one value per prompt). */
export function calibrateScores(rows: readonly Float32Array[], prompts: readonly string[], opts: CalibrateOptions): TagCalibration {
  const n0 = opts.priorImages ?? PRIOR_IMAGES;
  if (!(n0 >= 0)) throw new AppError('invalid_argument', `priorImages must be ≥ 0, got ${n0}`);
  for (const r of rows) {
    if (r.length !== prompts.length) throw new AppError('invalid_argument', `a score row has ${r.length} values for ${prompts.length} prompts`);
  }
  const n = rows.length;
  const z = rows.map((r) => photoZScores(r));
  const column = new Float64Array(n);
  const out: Record<string, [number, number]> = {};
  prompts.forEach((prompt, t) => {
    for (let i = 0; i < n; i++) column[i] = z[i][t];
    const { center, spread } = n ? robust(column) : { center: 0, spread: 1 };
    const mu = (n * center) / (n + n0 || 1);
    const sigma = n + n0 ? Math.sqrt((n * spread * spread + n0) / (n + n0)) : 1;
    out[prompt] = [round(mu), round(Math.max(sigma, MIN_SIGMA))];
  });
  const falseTags = opts.falseTagsPerPhoto ?? DEFAULT_FALSE_TAGS_PER_PHOTO;
  if (!(falseTags > 0)) throw new AppError('invalid_argument', `falseTagsPerPhoto must be > 0, got ${falseTags}`);
  const threshold = n ? tailThreshold(z, prompts.map((p) => out[p]), falseTags / prompts.length) : DEFAULT_THRESHOLD;
  return {
    version: 1, modelId: opts.modelId, vocabularyHash: opts.vocabularyHash, images: n, createdAt: (opts.now ?? Date.now)(),
    threshold: round(threshold), falseTagsPerPhoto: falseTags, prompts: out,
  };
}

/**
 * Step 3: the ẑ that a label the photo does not show exceeds with probability `alpha`. The right tail
 * of a max-over-queries similarity is exponential (the Gumbel domain of attraction), so an exponential
 * tail is fitted between the pooled median and 90th percentile of ẑ over all photos × labels — far
 * below the few true matches (well under 1% of the pairs), so they do not bias the fit — and then
 * extrapolated: P(ẑ > x) = 0.1 · exp(−(x − q90) / β), β = (q90 − q50) / ln 5.
 */
function tailThreshold(z: readonly Float32Array[], norms: readonly [number, number][], alpha: number): number {
  const pooled = new Float32Array(z.length * norms.length);
  let k = 0;
  for (const row of z) for (let t = 0; t < norms.length; t++) pooled[k++] = (row[t] - norms[t][0]) / norms[t][1];
  pooled.sort();
  const q = (p: number) => pooled[Math.floor(p * (pooled.length - 1))];
  const q50 = q(0.5);
  const q90 = q(0.9);
  const beta = Math.max(q90 - q50, 1e-6) / Math.log(5);
  return q90 + beta * Math.log(0.1 / Math.min(alpha, 0.1));
}

/** `calibrateScores` over photos' query vectors and the prompts' text vectors. */
export function calibrate(
  featuresList: readonly Float32Array[],
  textVectors: readonly Float32Array[],
  prompts: readonly string[],
  opts: CalibrateOptions,
): TagCalibration {
  if (textVectors.length !== prompts.length) throw new AppError('invalid_argument', `${textVectors.length} text vectors for ${prompts.length} prompts`);
  const dim = textVectors[0]?.length ?? 0;
  const matrix = stack(textVectors, dim);
  return calibrateScores(featuresList.map((f) => similarities(f, matrix, dim)), prompts, opts);
}

/** μ and σ per prompt, in order; prompts the calibration does not know get the prior (0, 1). */
export function labelNorms(calibration: TagCalibration | undefined, prompts: readonly string[]): { mu: Float32Array; sigma: Float32Array } {
  const mu = new Float32Array(prompts.length);
  const sigma = new Float32Array(prompts.length).fill(1);
  if (calibration) {
    prompts.forEach((p, i) => {
      const s = calibration.prompts[p];
      if (s) [mu[i], sigma[i]] = s;
    });
  }
  return { mu, sigma };
}

export const calibrationKey = (modelId: string): string => `tagThresholds:${modelId}`;

export function saveCalibration(catalog: Catalog, calibration: TagCalibration): void {
  catalog.setSetting(calibrationKey(calibration.modelId), calibration);
}

/** The stored calibration of the model, or undefined (none yet, or not in a shape this code knows). */
export function loadCalibration(catalog: Catalog, modelId: string): TagCalibration | undefined {
  const c = catalog.getSetting<Partial<TagCalibration>>(calibrationKey(modelId));
  if (!c || c.version !== 1 || c.modelId !== modelId || typeof c.prompts !== 'object' || c.prompts === null) return undefined;
  return c as TagCalibration;
}

/** Row-major [count × dim] copy of the vectors, checking every width. */
export function stack(vectors: readonly Float32Array[], dim: number): Float32Array {
  const m = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => {
    if (v.length !== dim) throw new AppError('invalid_argument', `text vector ${i} has ${v.length} values, expected ${dim}`);
    m.set(v, i * dim);
  });
  return m;
}

/** Median and 1.4826·MAD (a standard deviation for normal data, unmoved by a minority of outliers). */
export function robust(values: ArrayLike<number>): { center: number; spread: number } {
  const sorted = Float64Array.from(values).sort();
  const center = median(sorted);
  const dev = sorted.map((v) => Math.abs(v - center)).sort();
  return { center, spread: MAD_TO_SIGMA * median(dev) };
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  if (n === 0) return 0;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;
