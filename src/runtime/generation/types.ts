// Contracts of the text-generation engine. The engine is model-agnostic: the model side only has to
// implement DecoderStepper (prompt prefill, then one token per row with cache reordering), and the
// decoding behaviour is assembled from composable logits processors and stopping criteria, the same
// decomposition Hugging Face transformers uses, so its semantics can be matched piece by piece.

/** A decoder with its KV cache living on the model side. */
export interface DecoderStepper {
  readonly vocabSize: number;
  /** Runs the prompt (one row) and returns the next-token logits, Float32Array of length vocabSize. */
  prefill(): Promise<Float32Array>;
  /**
   * Feeds one new token per row. Row i continues the cache of previous row parents[i] (after prefill,
   * the previous rows are the single prompt row, so parents are all 0 and the row count may grow from
   * 1 to numBeams). Returns logits [rows * vocabSize].
   */
  next(tokens: readonly number[], parents: readonly number[]): Promise<Float32Array>;
}

/** HF `early_stopping`: true stops at numBeams finished hypotheses, false uses a heuristic, 'never' is exact. */
export type EarlyStopping = boolean | 'never';

/** Per row, the tokens generated so far (never the prompt: see logits-processors.ts). */
export type TokenHistories = ReadonlyArray<readonly number[]>;

/**
 * Rewrites next-token scores in place. `scores` is row-major rows × vocab with
 * rows = generated.length (HF's `LogitsProcessor.__call__(input_ids, scores)`).
 */
export interface LogitsProcessor {
  process(generated: TokenHistories, scores: Float32Array): void;
}

/** One boolean per row: true when that row must stop (HF's `StoppingCriteria.__call__`). */
export interface StoppingCriterion {
  isDone(generated: TokenHistories): boolean[];
}

/** Options of `generate`; every field is optional and defaults to Hugging Face's default. */
export interface GenerationOptions {
  /** Upper bound on generated tokens, eos included (HF max_new_tokens). Default 20, must be ≥ 1. */
  maxNewTokens?: number;
  /** Eos is masked (-inf) while fewer tokens than this were generated. Default 0. */
  minNewTokens?: number;
  /** 1 = greedy or sampling; > 1 = beam search. Default 1. */
  numBeams?: number;
  /** Beam hypotheses score sum_logprobs / generated_len ** lengthPenalty. Default 1.0. */
  lengthPenalty?: number;
  /** Beam search stopping rule (see EarlyStopping). Default false. */
  earlyStopping?: EarlyStopping;
  /** > 1 discourages tokens already generated (CTRL-style). Default 1.0 (off). */
  repetitionPenalty?: number;
  /** Forbids repeating any n-gram of this size. Default 0 (off). */
  noRepeatNgramSize?: number;
  /** Multinomial sampling instead of argmax (only with numBeams = 1). Default false. */
  doSample?: boolean;
  /** Sampling only: logits are divided by it. Default 1.0. */
  temperature?: number;
  /** Sampling only: keep the k best tokens (ties with the k-th kept); 0 disables. Default 50. */
  topK?: number;
  /** Sampling only: nucleus mass to keep, 0 < topP ≤ 1. Default 1.0 (off). */
  topP?: number;
  /**
   * Sampling only: seed of our own xoshiro128** PRNG, so runs are reproducible here. torch's RNG cannot
   * be reproduced, so sampled text never matches a Python run token for token. Default: random.
   */
  seed?: number;
  /** End-of-sequence id(s). Without one, generation only stops at maxNewTokens. */
  eosTokenId?: number | readonly number[];
  /** Streaming: each generated token as it is produced (greedy/sampling); the best sequence at the end (beam). */
  onToken?: (id: number) => void;
  /** Checked before each decoding step; an abort rejects with AppError code 'cancelled'. */
  signal?: AbortSignal;
  /**
   * Tokens the repetition penalty and no-repeat-ngram see before the generated ones, as HF's do when
   * its `input_ids` start with them: the decoder start token of an encoder-decoder model (T5). Not
   * counted as generated (min/max new tokens, returned ids). Default none (BLIP-2 OPT).
   */
  historyPrefix?: readonly number[];
  /** Extra processors, run after the built-in ones and before the sampling warpers (HF merge order). */
  logitsProcessors?: readonly LogitsProcessor[];
  /** Extra stopping criteria, combined with max-new-tokens and eos (a row stops when any says so). */
  stoppingCriteria?: readonly StoppingCriterion[];
}

export interface GenerationResult {
  /** Generated ids, including the eos if one was produced (the prompt is not included). */
  tokenIds: number[];
  /** Whether the sequence ended with an eos token (false when cut at maxNewTokens). */
  endedWithEos: boolean;
  /** Beam search only: HF `sequences_scores`, the best hypothesis's length-normalised log-probability. */
  score?: number;
}
