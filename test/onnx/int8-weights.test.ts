// Per-column symmetric int8 weight quantization: scales, rounding, the transposed (LM head) layout.
import { describe, expect, it } from 'vitest';
import { quantizeColumns } from '../../runtime/onnx/int8-weights.ts';

describe('quantizeColumns', () => {
  it('gives each output column its own scale and stays within half a step of the weight', () => {
    const k = 5;
    const n = 3;
    // Column c has magnitude ~10^c: a shared scale would flatten column 0 to zeros.
    const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i + 1) * 10 ** (i % n));
    const { q, scale } = quantizeColumns(w, k, n, false, 127)!;
    for (let col = 0; col < n; col++) {
      const maxAbs = Math.max(...Array.from({ length: k }, (_, row) => Math.abs(w[row * n + col]!)));
      expect(scale[col]).toBeCloseTo(maxAbs / 127, 6);
    }
    for (let i = 0; i < k * n; i++) {
      const s = scale[i % n]!;
      expect(Math.abs(q[i]! * s - w[i]!)).toBeLessThanOrEqual(s / 2 + 1e-7);
      expect(Math.abs(q[i]!)).toBeLessThanOrEqual(127);
    }
    expect(Math.max(...Array.from(q, Math.abs))).toBe(127);
  });

  it('quantizes a [N, K] table as its transpose [K, N] (a tied LM head)', () => {
    const k = 4;
    const n = 6;
    const table = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.7) * (1 + (i % 5)));
    const transposed = Float32Array.from({ length: k * n }, (_, i) => table[(i % n) * k + Math.floor(i / n)]!);
    const viaTable = quantizeColumns(table, k, n, true, 127)!;
    const direct = quantizeColumns(transposed, k, n, false, 127)!;
    expect([...viaTable.q]).toEqual([...direct.q]);
    expect([...viaTable.scale]).toEqual([...direct.scale]);
  });

  it('rounds half to even, keeps zero columns at scale 1, honours a 7-bit range', () => {
    // Column max 127 gives scale 1, so 2.5 -> 2, 3.5 -> 4, -2.5 -> -2.
    const w = Float32Array.of(127, 0, 2.5, 0, 3.5, 0, -2.5, 0);
    const { q, scale } = quantizeColumns(w, 4, 2, false, 127)!;
    expect([...q]).toEqual([127, 0, 2, 0, 4, 0, -2, 0]);
    expect(scale[1]).toBe(1);
    // Columns with max 63 get scale 1 in the 7-bit range: 31.5 -> 32 (even), 16.5 -> 16.
    const reduced = quantizeColumns(Float32Array.of(-63, 31.5, 16.5, 63), 2, 2, false, 63)!;
    expect([...reduced.q]).toEqual([-63, 32, 16, 63]);
    expect([...reduced.scale]).toEqual([1, 1]);
  });

  it('refuses weights that are not finite', () => {
    expect(quantizeColumns(Float32Array.of(1, Number.NaN), 1, 2, false, 127)).toBeUndefined();
    expect(quantizeColumns(Float32Array.of(Number.POSITIVE_INFINITY, 1), 2, 1, true, 127)).toBeUndefined();
  });
});
