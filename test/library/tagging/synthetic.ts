// Synthetic retrieval data with a planted structure for the tagging tests: random unit label vectors,
// photos whose query vectors sit near the vectors of their true labels, and "hub" labels that score
// high against every photo (as generic prompts do with BLIP-2). Plus a deterministic fake encoder.
import type { RetrievalEncoder } from '../../../src/runtime/blip2/retrieval-encoder.ts';
import { createHash } from 'node:crypto';
import { gaussian, rng } from '../../helpers/random-vectors.ts';

export { gaussian, rng };



export function normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return v.map((x) => x / n);
}

export function randomUnit(rand: () => number, dim: number): Float32Array {
  return normalize(Float32Array.from({ length: dim }, () => gaussian(rand)));
}

export interface Planted {
  dim: number;
  queries: number;
  labels: Float32Array[];
  hubs: Set<number>;
  /** The common direction every photo carries and hub labels point along. */
  common: Float32Array;
  photo(rand: () => number): { features: Float32Array; truth: Set<number> };
}

export function planted(opts: { seed: number; dim?: number; queries?: number; labels?: number; hubs?: number }): Planted {
  const rand = rng(opts.seed);
  const dim = opts.dim ?? 64;
  const queries = opts.queries ?? 8;
  const count = opts.labels ?? 150;
  const common = randomUnit(rand, dim);
  const hubs = new Set(Array.from({ length: opts.hubs ?? 10 }, (_, i) => i * 7));
  const labels = Array.from({ length: count }, (_, t) => {
    const g = randomUnit(rand, dim);
    return hubs.has(t) ? normalize(g.map((x, d) => x + 1.2 * common[d])) : g;
  });
  const mix = (a: Float32Array, b: Float32Array, w: number) => normalize(a.map((x, d) => x + w * b[d]));
  return {
    dim, queries, labels, hubs, common,
    photo(r) {
      const truth = new Set<number>();
      const k = 1 + Math.floor(r() * 3);
      while (truth.size < k) {
        const t = Math.floor(r() * count);
        if (!hubs.has(t)) truth.add(t);
      }
      const features = new Float32Array(queries * dim);
      [...truth].forEach((t, q) => features.set(mix(labels[t], randomUnit(r, dim), 1.2), q * dim));
      for (let q = truth.size; q < queries; q++) features.set(mix(randomUnit(r, dim), common, 0.8), q * dim);
      return { features, truth };
    },
  };
}

/** Deterministic text vectors from a hash of the text; counts what it is asked to embed. */
export class FakeEncoder {
  readonly queries = 4;
  calls: string[][] = [];
  constructor(readonly modelId = 'fake:fp32:1', readonly embedDim = 64) {}

  vectorOf(text: string): Float32Array {
    const seed = createHash('sha256').update(`${this.modelId}\n${text}`).digest().readUInt32LE(0);
    return randomUnit(rng(seed), this.embedDim);
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    this.calls.push([...texts]);
    return texts.map((t) => this.vectorOf(t));
  }

  /** An "image" whose first query vector is the text vector of `text`, the rest noise. */
  imageNear(texts: string[], seed = 1): Float32Array {
    const rand = rng(seed);
    const f = new Float32Array(this.queries * this.embedDim);
    for (let q = 0; q < this.queries; q++) f.set(q < texts.length ? this.vectorOf(texts[q]) : randomUnit(rand, this.embedDim), q * this.embedDim);
    return f;
  }

  async embedImage(): Promise<Float32Array> { return this.imageNear([]); }
  async itm(_image: string, texts: readonly string[]): Promise<number[]> { return texts.map(() => 0.5); }
  async dispose(): Promise<void> {}
}

// The fake must keep up with the real interface.
export const _typecheck = (e: FakeEncoder): RetrievalEncoder => e satisfies RetrievalEncoder;
