// Logits processors (HF generation/logits_process.py) and the list that composes them in HF's order.
//
// What the processors see as history: HF's BLIP-2 generates from `inputs_embeds` (query embeddings +
// prompt embeddings), so the `input_ids` handed to the processors start as an empty tensor and only
// ever contain generated tokens. The prompt therefore never counts for the repetition penalty or the
// no-repeat-ngram ban here either: `generated[i]` is the generated tokens of row i, nothing else.
// An encoder-decoder model (T5) is different: HF's decoder `input_ids` start with the decoder start
// token, which those two processors then see too (`historyPrefix`, see WithHistoryPrefix).
import type { LogitsProcessor, TokenHistories } from './types.ts';
import type { ResolvedGenerationOptions } from './options.ts';
import { TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper } from './logits-warpers.ts';

function vocabOf(generated: TokenHistories, scores: Float32Array): number {
  return scores.length / generated.length;
}

/**
 * HF RepetitionPenaltyLogitsProcessor: each distinct token already generated in the row has its score
 * divided by the penalty when ≥ 0 and multiplied by it when < 0 (both lower it for penalty > 1).
 * HF gathers the original values before scattering, so a token repeated n times is penalised once.
 */
export class RepetitionPenaltyLogitsProcessor implements LogitsProcessor {
  constructor(readonly penalty: number) {}

  process(generated: TokenHistories, scores: Float32Array): void {
    const vocab = vocabOf(generated, scores);
    for (let row = 0; row < generated.length; row++) {
      const seen = new Set<number>();
      for (const token of generated[row]) {
        if (seen.has(token)) continue;
        seen.add(token);
        const at = row * vocab + token;
        const s = scores[at];
        scores[at] = s < 0 ? s * this.penalty : s / this.penalty;
      }
    }
  }
}

/**
 * HF NoRepeatNGramLogitsProcessor: if the row's last n-1 tokens already occurred followed by token t,
 * t is banned (-inf). Nothing is banned until the row has at least n-1 tokens (cur_len + 1 < n).
 */
export class NoRepeatNGramLogitsProcessor implements LogitsProcessor {
  constructor(readonly ngramSize: number) {
    if (!Number.isInteger(ngramSize) || ngramSize <= 0) throw new RangeError('ngramSize must be a positive integer');
  }

  process(generated: TokenHistories, scores: Float32Array): void {
    const vocab = vocabOf(generated, scores);
    const n = this.ngramSize;
    for (let row = 0; row < generated.length; row++) {
      const tokens = generated[row];
      const len = tokens.length;
      if (len + 1 < n) continue;
      const prefixStart = len - (n - 1);
      // Every earlier n-gram whose first n-1 tokens equal the current (n-1)-suffix bans its last token.
      for (let start = 0; start + n <= len; start++) {
        let same = true;
        for (let j = 0; j < n - 1; j++) {
          if (tokens[start + j] !== tokens[prefixStart + j]) {
            same = false;
            break;
          }
        }
        if (same) scores[row * vocab + tokens[start + n - 1]] = -Infinity;
      }
    }
  }
}

/** HF MinNewTokensLengthLogitsProcessor: eos ids get -inf while the row has fewer than min new tokens. */
export class MinNewTokensLogitsProcessor implements LogitsProcessor {
  constructor(readonly minNewTokens: number, readonly eosTokenIds: readonly number[]) {}

  process(generated: TokenHistories, scores: Float32Array): void {
    const vocab = vocabOf(generated, scores);
    for (let row = 0; row < generated.length; row++) {
      if (generated[row].length >= this.minNewTokens) continue;
      for (const eos of this.eosTokenIds) scores[row * vocab + eos] = -Infinity;
    }
  }
}

/** Runs a processor on histories with `prefix` in front of every row (tokens HF's input_ids start with). */
export class WithHistoryPrefix implements LogitsProcessor {
  constructor(readonly prefix: readonly number[], readonly inner: LogitsProcessor) {}

  process(generated: TokenHistories, scores: Float32Array): void {
    this.inner.process(generated.map((row) => [...this.prefix, ...row]), scores);
  }
}

/** Applies processors in order (HF LogitsProcessorList). Is itself a LogitsProcessor, so lists nest. */
export class LogitsProcessorList implements LogitsProcessor {
  readonly processors: LogitsProcessor[];

  constructor(processors: Iterable<LogitsProcessor> = []) {
    this.processors = [...processors];
  }

  push(...processors: LogitsProcessor[]): this {
    this.processors.push(...processors);
    return this;
  }

  get length(): number {
    return this.processors.length;
  }

  process(generated: TokenHistories, scores: Float32Array): void {
    if (generated.length === 0 || scores.length % generated.length !== 0) {
      throw new RangeError(`scores length ${scores.length} is not a multiple of the row count ${generated.length}`);
    }
    for (const p of this.processors) p.process(generated, scores);
  }
}

/**
 * The processor list HF 4.45 `_get_logits_processor` builds for these options, in its order:
 * repetition penalty, no-repeat-ngram, min-new-tokens, then caller-supplied processors, then (only
 * when sampling) the warpers temperature, top-k, top-p with min_tokens_to_keep = 1. Like HF, each
 * entry is omitted when its option is at the neutral value (penalty 1, size 0, temperature 1, ...).
 */
export function buildLogitsProcessors(opts: ResolvedGenerationOptions): LogitsProcessorList {
  const list = new LogitsProcessorList();
  const withPrefix = (p: LogitsProcessor) => (opts.historyPrefix.length ? new WithHistoryPrefix(opts.historyPrefix, p) : p);
  if (opts.repetitionPenalty !== 1.0) list.push(withPrefix(new RepetitionPenaltyLogitsProcessor(opts.repetitionPenalty)));
  if (opts.noRepeatNgramSize > 0) list.push(withPrefix(new NoRepeatNGramLogitsProcessor(opts.noRepeatNgramSize)));
  if (opts.minNewTokens > 0 && opts.eosTokenIds.length > 0) {
    list.push(new MinNewTokensLogitsProcessor(opts.minNewTokens, opts.eosTokenIds));
  }
  list.push(...opts.logitsProcessors);
  if (opts.doSample) {
    const minTokensToKeep = opts.numBeams > 1 ? 2 : 1;
    if (opts.temperature !== 1.0) list.push(new TemperatureLogitsWarper(opts.temperature));
    if (opts.topK !== 0) list.push(new TopKLogitsWarper(opts.topK, minTokensToKeep));
    if (opts.topP < 1.0) list.push(new TopPLogitsWarper(opts.topP, minTokensToKeep));
  }
  return list;
}
