// Small numeric kernels over score rows (Float32Array, row-major). Scores are kept in Float32Array on
// purpose: HF works on float32 tensors, so rounding each intermediate result to float32 keeps ties and
// orderings close to what torch sees. All selections are linear or partial (no full O(V log V) sort)
// because the vocabulary is ~50k and they run once per step.

/** log_softmax of src[srcOffset, +vocab) into dst[dstOffset, +vocab), as (x - max) - log(sum(exp(x - max))). */
export function logSoftmaxRow(src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number, vocab: number): void {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) {
    const v = src[srcOffset + i];
    if (v > max) max = v;
  }
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(src[srcOffset + i] - max);
  const logSum = Math.log(sum);
  for (let i = 0; i < vocab; i++) dst[dstOffset + i] = src[srcOffset + i] - max - logSum;
}

/** Index of the largest value in [offset, offset+length), relative to offset; ties → lowest index (torch.argmax). */
export function argmax(scores: Float32Array, offset: number, length: number): number {
  let best = 0;
  let bestValue = scores[offset];
  for (let i = 1; i < length; i++) {
    const v = scores[offset + i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

export interface TopK {
  /** Indices relative to the start of the searched range, best first. */
  indices: number[];
  values: number[];
}

/**
 * The k largest values of [offset, offset+length), sorted descending, ties broken by lower index
 * (a deterministic stand-in for torch.topk, whose tie order is unspecified). A bounded insertion
 * list: O(length) when few elements beat the current k-th, O(length·k) in the worst case.
 */
export function topKDescending(values: Float32Array, k: number, offset = 0, length = values.length - offset): TopK {
  const n = Math.min(k, length);
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < length; i++) {
    const v = values[offset + i];
    if (idx.length === n) {
      // Strictly greater: an equal value seen later has a higher index, so it ranks after.
      if (!(v > val[n - 1])) continue;
      idx.pop();
      val.pop();
    }
    let p = val.length;
    while (p > 0 && val[p - 1] < v) p--;
    idx.splice(p, 0, i);
    val.splice(p, 0, v);
  }
  return { indices: idx, values: val };
}

/** softmax of one row as float64 probabilities (-Infinity → 0). */
export function softmaxRow(scores: Float32Array, offset: number, vocab: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (scores[offset + i] > max) max = scores[offset + i];
  const probs = new Float64Array(vocab);
  if (max === -Infinity) return probs;
  let sum = 0;
  for (let i = 0; i < vocab; i++) {
    const e = Math.exp(scores[offset + i] - max);
    probs[i] = e;
    sum += e;
  }
  for (let i = 0; i < vocab; i++) probs[i] /= sum;
  return probs;
}

/**
 * Inverse-CDF draw from `probs` with a uniform u in [0, 1): the first index whose cumulative mass
 * exceeds u·total. Zero-probability tokens can never be drawn; -1 when all mass is zero.
 */
export function sampleIndex(probs: Float64Array, u: number): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i];
  if (!(total > 0)) return -1;
  const target = u * total;
  let cumulative = 0;
  let lastPositive = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    cumulative += probs[i];
    lastPositive = i;
    if (cumulative > target) return i;
  }
  return lastPositive; // rounding left target just above the final sum
}
