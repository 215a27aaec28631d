// Seeded random numbers for sampling (xoshiro128**): one generator per sequence, so a seeded
// request gives the same tokens whatever else is in its batch.

export type Rng = () => number;

/** splitmix32: spreads a small seed over the 128-bit state. */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Uniform numbers in [0, 1). */
export function createRng(seed: number): Rng {
  const init = splitmix32(seed);
  let a = init(), b = init(), c = init(), d = init();
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** A seed for choice `index` of a request seeded with `seed` (or a random one). */
export function choiceSeed(seed: number | undefined, index: number): number {
  const base = seed ?? Math.floor(Math.random() * 2 ** 32);
  return (Math.imul(base ^ 0x5bd1e995, 31) + Math.imul(index + 1, 0x27d4eb2d)) >>> 0;
}
