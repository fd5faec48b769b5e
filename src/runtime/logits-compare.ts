// Compares two logit vectors the way quantization accuracy is reported: cosine similarity,
// top-1 agreement, top-5 overlap and max abs difference.

export interface LogitsComparison {
  cosine: number;
  top1Agrees: boolean;
  top5Overlap: number;
  maxAbsDiff: number;
}

export function compareLogits(reference: Float32Array, candidate: Float32Array): LogitsComparison {
  if (reference.length !== candidate.length) throw new Error(`logit lengths differ: ${reference.length} vs ${candidate.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  let maxAbsDiff = 0;
  for (let i = 0; i < reference.length; i++) {
    dot += reference[i] * candidate[i];
    na += reference[i] * reference[i];
    nb += candidate[i] * candidate[i];
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(reference[i] - candidate[i]));
  }
  const ra = topK(reference, 5);
  const ca = new Set(topK(candidate, 5));
  return {
    cosine: dot / Math.sqrt(na * nb),
    top1Agrees: ra[0] === topK(candidate, 1)[0],
    top5Overlap: ra.filter((i) => ca.has(i)).length / 5,
    maxAbsDiff,
  };
}

export function topK(v: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (best.length < k || v[i] > v[best[best.length - 1]]) {
      best.push(i);
      best.sort((a, b) => v[b] - v[a] || a - b);
      if (best.length > k) best.pop();
    }
  }
  return best;
}
