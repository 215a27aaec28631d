// Pure vector pieces for embeddings: pooling over the attention mask, L2 normalisation, Matryoshka cut.
import type { Pooling } from '../manifest.ts';

/** Pools row `row` of a [batch, width, hidden] tensor over its first `length` (real) tokens. */
export function poolRow(hidden: Float32Array, width: number, dim: number, row: number, length: number, pooling: Pooling): Float32Array {
  const out = new Float32Array(dim);
  const base = row * width * dim;
  if (pooling === 'cls' || pooling === 'last') {
    const at = base + (pooling === 'cls' ? 0 : Math.max(0, length - 1)) * dim;
    out.set(hidden.subarray(at, at + dim));
    return out;
  }
  for (let t = 0; t < length; t++) {
    const at = base + t * dim;
    for (let d = 0; d < dim; d++) out[d] = (out[d] as number) + (hidden[at + d] as number);
  }
  const n = Math.max(1, length);
  for (let d = 0; d < dim; d++) out[d] = (out[d] as number) / n;
  return out;
}

/** Scales to unit L2 norm in place (a zero vector stays zero). */
export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += (v[i] as number) * (v[i] as number);
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) / norm;
  return v;
}

/** Matryoshka: keep the first `dimensions` values, then renormalise. */
export function truncateDimensions(v: Float32Array, dimensions: number): Float32Array {
  return l2Normalize(v.slice(0, dimensions));
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
