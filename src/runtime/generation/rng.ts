// Seeded PRNG for sampling: xoshiro128** (Blackman & Vigna) seeded through splitmix32. We need our own
// generator because Math.random cannot be seeded, and reproducing torch.multinomial's Philox/MT stream
// is out of reach; so a seed gives reproducible runs of *this* engine, never the tokens a Python run
// with torch.manual_seed would draw.

export interface Rng {
  /** Uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number;
}

/** splitmix32 step: spreads a (possibly tiny or sequential) seed over the whole state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A xoshiro128** generator; without a seed, one is drawn from Math.random (non-reproducible). */
export function createRng(seed?: number): Rng {
  const s = seed ?? Math.floor(Math.random() * 2 ** 32);
  // Both 32-bit halves of a safe integer take part, so seeds that differ above bit 31 differ.
  const lo = s >>> 0;
  const hi = Math.floor(s / 2 ** 32) >>> 0;
  const mix = { s: lo ^ Math.imul(hi, 0x27d4eb2d) };
  let a = splitmix32(mix);
  let b = splitmix32(mix) ^ hi;
  let c = splitmix32(mix);
  let d = splitmix32(mix);
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is a fixed point of xoshiro

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return {
    nextUint32,
    nextFloat(): number {
      const high = nextUint32() >>> 5; // 27 bits
      const low = nextUint32() >>> 6; // 26 bits
      return (high * 67108864 + low) / 9007199254740992;
    },
  };
}
