// Symmetric per-column int8 quantization of a MatMul weight B [K, N]: q = round(w / scale[n]),
// rounding half to even as numpy and onnxruntime's own quantizer do.

export interface Int8Weight {
  /** Row-major [K, N], in [-qmax, qmax]. */
  q: Int8Array;
  /** One scale per output column (N), always > 0. */
  scale: Float32Array;
}

/**
 * Quantizes B [K, N]. `source` is row-major [K, N], or with `transposed` row-major [N, K]
 * (an embedding table [V, H] used as the LM head's B = table^T [H, V]). `qmax` is 127, or 63
 * for 7-bit weights. Returns undefined when a weight is not finite.
 */
export function quantizeColumns(source: Float32Array, k: number, n: number, transposed: boolean, qmax: number): Int8Weight | undefined {
  const maxAbs = new Float32Array(n);
  if (transposed) {
    for (let col = 0; col < n; col++) {
      let m = 0;
      const base = col * k;
      for (let row = 0; row < k; row++) m = Math.max(m, Math.abs(source[base + row] as number));
      maxAbs[col] = m;
    }
  } else {
    for (let row = 0; row < k; row++) {
      const base = row * n;
      for (let col = 0; col < n; col++) {
        const v = Math.abs(source[base + col] as number);
        if (v > (maxAbs[col] as number) || Number.isNaN(v)) maxAbs[col] = v;
      }
    }
  }
  const scale = new Float32Array(n);
  const inverse = new Float64Array(n);
  for (let col = 0; col < n; col++) {
    const m = maxAbs[col] as number;
    if (!Number.isFinite(m)) return undefined;
    scale[col] = m > 0 ? m / qmax : 1;
    inverse[col] = 1 / (scale[col] as number);
  }
  const q = new Int8Array(k * n);
  // Hot loop (the LM head alone is 28M weights): index arithmetic and rounding kept inline.
  const rowStride = transposed ? 1 : n;
  const colStride = transposed ? k : 1;
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
  return { q, scale };
}
