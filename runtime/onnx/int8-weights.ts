// Symmetric per-column int8 quantization of a MatMul weight B [K, N]: q = round(w / scale[n]),
// rounding half to even as numpy and onnxruntime's own quantizer do.

export interface Int8Weight {
  /** Row-major [K, N], in [-qmax, qmax]. */
  q: Int8Array;
  /** One scale per output column (N), always > 0. */
  scale: Float32Array;
}

// Each loop is its own small function so V8 optimizes it on its own (the LM head alone is 28M
// weights); element reads use strides so one loop serves both layouts.

/** max |B[:, col]| per column; NaN when a column holds a NaN. */
function columnMaxAbs(source: Float32Array, k: number, n: number, rowStride: number, colStride: number): Float32Array {
  const maxAbs = new Float32Array(n);
  for (let row = 0; row < k; row++) {
    let src = row * rowStride;
    for (let col = 0; col < n; col++, src += colStride) {
      const v = Math.abs(source[src] as number);
      if (v > (maxAbs[col] as number) || v !== v) maxAbs[col] = v;
    }
  }
  return maxAbs;
}

function quantizeInto(q: Int8Array, source: Float32Array, inverse: Float64Array, k: number, n: number, rowStride: number, colStride: number, qmax: number): void {
  for (let row = 0; row < k; row++) {
    const out = row * n;
    let src = row * rowStride;
    for (let col = 0; col < n; col++, src += colStride) {
      const x = (source[src] as number) * (inverse[col] as number);
      let r = Math.floor(x + 0.5); // Math.round's result, several times faster in V8 here
      if (r - x === 0.5 && (r & 1) !== 0) r -= 1; // half to even
      q[out + col] = r > qmax ? qmax : r < -qmax ? -qmax : r;
    }
  }
}

/**
 * Quantizes B [K, N]. `source` is row-major [K, N], or with `transposed` row-major [N, K]
 * (an embedding table [V, H] used as the LM head's B = table^T [H, V]). `qmax` is 127, or 63
 * for 7-bit weights. Returns undefined when a weight is not finite.
 */
export function quantizeColumns(source: Float32Array, k: number, n: number, transposed: boolean, qmax: number): Int8Weight | undefined {
  const rowStride = transposed ? 1 : n;
  const colStride = transposed ? k : 1;
  const maxAbs = columnMaxAbs(source, k, n, rowStride, colStride);
  const scale = new Float32Array(n);
  const inverse = new Float64Array(n);
  for (let col = 0; col < n; col++) {
    const m = maxAbs[col] as number;
    if (!Number.isFinite(m)) return undefined;
    scale[col] = m > 0 ? m / qmax : 1;
    inverse[col] = 1 / (scale[col] as number);
  }
  const q = new Int8Array(k * n);
  quantizeInto(q, source, inverse, k, n, rowStride, colStride, qmax);
  return { q, scale };
}
