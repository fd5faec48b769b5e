// Sampling warpers (HF TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper). They reshape the
// distribution that multinomial sampling draws from; HF only installs them when do_sample is set, and
// so does buildLogitsProcessors. Masked tokens get -inf (HF's filter_value), i.e. probability 0.
import type { LogitsProcessor, TokenHistories } from './types.ts';
import { topKDescending } from './score-ops.ts';

/** Divides every score by the temperature (> 1 flattens, < 1 sharpens). */
export class TemperatureLogitsWarper implements LogitsProcessor {
  constructor(readonly temperature: number) {
    if (!(temperature > 0)) throw new RangeError('temperature must be > 0');
  }

  process(_generated: TokenHistories, scores: Float32Array): void {
    for (let i = 0; i < scores.length; i++) scores[i] = scores[i] / this.temperature;
  }
}

/**
 * Keeps the tokens whose score is ≥ the k-th largest (so ties with the k-th all survive, as HF's
 * `scores < topk(...)[..., -1]` test does); k is at least minTokensToKeep and at most the vocabulary.
 */
export class TopKLogitsWarper implements LogitsProcessor {
  readonly topK: number;

  constructor(topK: number, readonly minTokensToKeep = 1) {
    if (!Number.isInteger(topK) || topK <= 0) throw new RangeError('topK must be a positive integer');
    this.topK = Math.max(topK, minTokensToKeep);
  }

  process(generated: TokenHistories, scores: Float32Array): void {
    const vocab = scores.length / generated.length;
    const k = Math.min(this.topK, vocab);
    for (let row = 0; row < generated.length; row++) {
      const offset = row * vocab;
      const kth = topKDescending(scores, k, offset, vocab).values[k - 1];
      for (let i = 0; i < vocab; i++) if (scores[offset + i] < kth) scores[offset + i] = -Infinity;
    }
  }
}

/**
 * Nucleus filtering exactly as HF: sort ascending, cumulative softmax, drop tokens whose cumulative
 * probability is ≤ 1 - topP, but never the last minTokensToKeep (the most likely). Probabilities and
 * the running sum are rounded to float32 at each step, like torch's float32 softmax/cumsum, and the
 * threshold 1 - topP is compared as float32, as torch does with a Python scalar. Equal scores are
 * ordered by token id (torch.sort's order for ties is unspecified).
 */
export class TopPLogitsWarper implements LogitsProcessor {
  constructor(readonly topP: number, readonly minTokensToKeep = 1) {
    if (!(topP > 0 && topP <= 1)) throw new RangeError('topP must be in (0, 1]');
  }

  process(generated: TokenHistories, scores: Float32Array): void {
    const vocab = scores.length / generated.length;
    const threshold = Math.fround(1 - this.topP);
    const order = new Uint32Array(vocab);
    for (let row = 0; row < generated.length; row++) {
      const offset = row * vocab;
      for (let i = 0; i < vocab; i++) order[i] = i;
      order.sort((a, b) => scores[offset + a] - scores[offset + b] || a - b);
      const max = scores[offset + order[vocab - 1]];
      if (max === -Infinity) continue;
      let sum = 0;
      for (let i = 0; i < vocab; i++) sum += Math.exp(scores[offset + i] - max);
      let cumulative = 0;
      const removable = vocab - this.minTokensToKeep;
      for (let r = 0; r < removable; r++) {
        const token = order[r];
        cumulative = Math.fround(cumulative + Math.fround(Math.exp(scores[offset + token] - max) / sum));
        if (cumulative > threshold) break; // cumulative only grows: nothing further is removed
        scores[offset + token] = -Infinity;
      }
    }
  }
}
