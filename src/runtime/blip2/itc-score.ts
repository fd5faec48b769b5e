// BLIP-2's image-text contrastive (ITC) score, in one place: the maximum over a photo's query vectors
// of dot(query vector, text vector), both L2-normalized (HF's Blip2ForImageTextRetrieval with
// use_image_text_matching_head=False, without the temperature). Used by the retrieval model (`match`),
// tagging (every vocabulary entry) and search (the exact stage over float32 vectors; the int8 store
// dequantizes in its own loop, vector-search.ts).

/** dot(a[aOff … aOff+n), b[bOff … bOff+n)), four partial sums (V8 keeps them in registers). */
export function dot(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[aOff + i] * b[bOff + i]; s1 += a[aOff + i + 1] * b[bOff + i + 1];
    s2 += a[aOff + i + 2] * b[bOff + i + 2]; s3 += a[aOff + i + 3] * b[bOff + i + 3];
  }
  for (; i < n; i++) s0 += a[aOff + i] * b[bOff + i];
  return s0 + s1 + s2 + s3;
}

/**
 * The ITC score of one photo and one text: `queries` vectors of `dim` values at `featOffset` in
 * `features`, the text's `dim` values at `textOffset` in `text`.
 */
export function itcScore(
  features: ArrayLike<number>, text: ArrayLike<number>, dim: number,
  opts: { queries?: number; featOffset?: number; textOffset?: number } = {},
): number {
  const featOffset = opts.featOffset ?? 0;
  const textOffset = opts.textOffset ?? 0;
  const queries = opts.queries ?? (features.length - featOffset) / dim;
  let best = -Infinity;
  for (let q = 0, base = featOffset; q < queries; q++, base += dim) {
    const d = dot(features, base, text, textOffset, dim);
    if (d > best) best = d;
  }
  return best;
}
