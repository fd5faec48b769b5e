// Seeded random numbers and unit vectors for the search and tagging tests (mulberry32 + Box-Muller),
// so every test builds the same data on every run.
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal sample. */
export function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** `rows` random L2-normalized vectors of width `dim`, one after another. */
export function unitRows(rand: () => number, rows: number, dim: number): Float32Array {
  const v = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    let n = 0;
    for (let j = 0; j < dim; j++) { const x = gaussian(rand); v[i * dim + j] = x; n += x * x; }
    const inv = 1 / Math.sqrt(n);
    for (let j = 0; j < dim; j++) v[i * dim + j] *= inv;
  }
  return v;
}
