// The tagger: the vocabulary's text vectors for one retrieval model (computed once, then cached per
// model and prompt), that model's calibration, and the rule that turns a photo's query vectors into
// tags. It never touches the catalog's tags; photo-tags.ts does that.
//
// The rule, for a photo with query vectors v_1..v_Q:
//   1. s_t = max_q ⟨v_q, w_t⟩ for every vocabulary entry t (ITC similarity, as HF computes it);
//   2. ẑ_t = calibrated score of s_t (calibration.ts: robust z within the photo, then per label);
//   3. labels in `exclude` (the photo's rejected tags) are never considered;
//   4. every label with ẑ_t ≥ threshold passes; the `topK` best of them are kept (ties: vocabulary order);
//   5. when fewer than `minimum` pass, the best remaining labels with ẑ_t ≥ floor are added until
//      there are `minimum` — so a photo gets its best tag even when nothing is clearly above the
//      threshold, but never a label that does not stand out at all.
import { AppError } from '../../shared/errors.ts';
import type { RetrievalEncoder } from '../../runtime/blip2/retrieval-encoder.ts';
import { DEFAULT_THRESHOLD, type TagCalibration, calibratedScores, labelNorms, similarities, stack } from './calibration.ts';
import { type TextVectorCache, cachedTextVectors } from './text-embedding-cache.ts';
import type { Vocabulary, VocabularyEntry } from './vocabulary.ts';

export const DEFAULT_TOP_K = 10;
export const DEFAULT_MINIMUM = 1;
/** How far below the threshold the `minimum` rule may reach. */
export const DEFAULT_FLOOR_GAP = 1;

export interface AssignOptions {
  /** ẑ a label needs (default DEFAULT_THRESHOLD). */
  threshold?: number;
  /** At most this many tags (default 10). */
  topK?: number;
  /** At least this many tags when some reach `floor` (default 1; 0 turns the rule off). */
  minimum?: number;
  /** ẑ the `minimum` rule needs (default threshold − 1). */
  floor?: number;
  /** Labels never to return (case-insensitive), e.g. the photo's rejected tags. */
  exclude?: Iterable<string>;
}

export interface TagHit {
  label: string;
  /** Calibrated score ẑ: robust standard deviations above what the label usually scores. */
  score: number;
  /** Raw ITC similarity (max over query vectors), comparable with `photo-assistant match`. */
  similarity: number;
}

export interface TaggerCreateOptions extends AssignOptions {
  cache?: TextVectorCache;
  calibration?: TagCalibration;
}

type TextEncoder = Pick<RetrievalEncoder, 'modelId' | 'embedDim' | 'embedTexts'>;

export class Tagger {
  readonly dim: number;
  private readonly texts: Float32Array;
  private mu!: Float32Array;
  private sigma!: Float32Array;
  private calibration_: TagCalibration | undefined;
  /** How many prompts were run through the model when this tagger was created (0 on a warm cache). */
  embedded = 0;

  constructor(
    readonly vocabulary: Vocabulary,
    readonly modelId: string,
    textVectors: readonly Float32Array[],
    private readonly defaults: AssignOptions = {},
    calibration?: TagCalibration,
  ) {
    if (textVectors.length !== vocabulary.entries.length) {
      throw new AppError('invalid_argument', `${textVectors.length} text vectors for ${vocabulary.entries.length} vocabulary entries`);
    }
    if (textVectors.length === 0) throw new AppError('invalid_argument', 'the tag vocabulary is empty');
    this.dim = textVectors[0].length;
    this.texts = stack(textVectors, this.dim);
    this.setCalibration(calibration);
  }

  /** Builds a tagger, embedding only the prompts `cache` does not hold yet for this model. */
  static async create(vocabulary: Vocabulary, encoder: TextEncoder, opts: TaggerCreateOptions = {}): Promise<Tagger> {
    const { cache, calibration, ...defaults } = opts;
    const { vectors, embedded } = await cachedTextVectors(encoder, vocabulary.entries.map((e) => e.prompt), cache);
    const tagger = new Tagger(vocabulary, encoder.modelId, vectors, defaults, calibration);
    tagger.embedded = embedded;
    return tagger;
  }

  get entries(): readonly VocabularyEntry[] {
    return this.vocabulary.entries;
  }

  get prompts(): string[] {
    return this.entries.map((e) => e.prompt);
  }

  /** The text vectors, one per entry (views into one matrix). */
  get textVectors(): Float32Array[] {
    return this.entries.map((_, i) => this.texts.subarray(i * this.dim, (i + 1) * this.dim));
  }

  get calibration(): TagCalibration | undefined {
    return this.calibration_;
  }

  /** Uses `calibration` from now on (undefined: uncalibrated); it must be for this model. */
  setCalibration(calibration: TagCalibration | undefined): void {
    if (calibration && calibration.modelId !== this.modelId) {
      throw new AppError('invalid_argument', `the tag calibration is for model ${calibration.modelId}, not ${this.modelId}`);
    }
    this.calibration_ = calibration;
    ({ mu: this.mu, sigma: this.sigma } = labelNorms(calibration, this.prompts));
  }

  /** Raw ITC similarity of the photo with every entry, in vocabulary order. */
  similarities(features: Float32Array): Float32Array {
    return similarities(features, this.texts, this.dim);
  }

  /** Tags for a photo's query vectors [queries × dim], best first. */
  assign(features: Float32Array, opts: AssignOptions = {}): TagHit[] {
    return this.assignScores(this.similarities(features), opts);
  }

  /** The rule (see the header) applied to raw similarities, one per entry. */
  assignScores(raw: Float32Array, opts: AssignOptions = {}): TagHit[] {
    const o = { ...this.defaults, ...definedOnly(opts) };
    const threshold = o.threshold ?? this.calibration_?.threshold ?? DEFAULT_THRESHOLD;
    const topK = o.topK ?? DEFAULT_TOP_K;
    const minimum = Math.min(o.minimum ?? DEFAULT_MINIMUM, topK);
    const floor = Math.min(o.floor ?? threshold - DEFAULT_FLOOR_GAP, threshold);
    if (!Number.isFinite(threshold) || !Number.isFinite(floor)) throw new AppError('invalid_argument', 'the tag threshold must be a finite number');
    if (!Number.isInteger(topK) || topK < 0 || !Number.isInteger(minimum) || minimum < 0) {
      throw new AppError('invalid_argument', 'top-k and minimum must be whole numbers ≥ 0');
    }
    if (raw.length !== this.entries.length) throw new AppError('invalid_argument', `${raw.length} scores for ${this.entries.length} vocabulary entries`);
    const excluded = new Set([...(o.exclude ?? [])].map((l) => l.toLowerCase()));
    const score = calibratedScores(raw, this.mu, this.sigma);
    const order = [...score.keys()]
      .filter((i) => Number.isFinite(score[i]) && !excluded.has(this.entries[i].label.toLowerCase()))
      .sort((a, b) => score[b] - score[a] || a - b);
    const passing = order.filter((i) => score[i] >= threshold).slice(0, topK);
    const kept = passing.length >= minimum ? passing : order.filter((i) => score[i] >= floor).slice(0, Math.max(minimum, passing.length));
    return kept.map((i) => ({ label: this.entries[i].label, score: score[i], similarity: raw[i] }));
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
