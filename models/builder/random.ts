// Seeded random numbers for fixture weights: the same seed gives the same model, byte for byte.

/** mulberry32: a small, fast 32-bit generator; plenty for random weights. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Rng {
  /** `count` draws from N(0, std^2) as float32. */
  normal(count: number, std: number): Float32Array;
}

export function createRng(seed: number): Rng {
  const uniform = mulberry32(seed);
  return {
    normal(count, std) {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i += 2) {
        // Box-Muller: two uniforms give two independent normals.
        const u = 1 - uniform();
        const r = Math.sqrt(-2 * Math.log(u)) * std;
        const theta = 2 * Math.PI * uniform();
        out[i] = r * Math.cos(theta);
        if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
      }
      return out;
    },
  };
}
