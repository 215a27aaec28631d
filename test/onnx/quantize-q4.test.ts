// The q4 rewrite's weights (runtime/onnx/quantize-q4.ts): q4_0 blocks, nibble order, and what
// onnxruntime's MatMulNBits kernel computes from them.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../runtime/onnx/model-proto.ts';
import { GraphAssembler, modelOf, valueInfo } from '../../runtime/onnx/graph-assembler.ts';
import { encodeModel } from '../../runtime/onnx/model-proto.ts';
import { concatBytes } from '../../runtime/onnx/protobuf-writer.ts';
import { quantizeQ4, quantizeQ4Model, Q4_BLOCK } from '../../runtime/onnx/quantize-q4.ts';

/** (q - 8) * d for weight (row, col) of B [K, N]. */
function dequantized(w: ReturnType<typeof quantizeQ4> & object, k: number, n: number): Float32Array {
  const out = new Float32Array(k * n);
  for (let col = 0; col < n; col++) {
    for (let row = 0; row < k; row++) {
      const block = Math.floor(row / Q4_BLOCK);
      const within = row % Q4_BLOCK;
      const byte = w.packed[(col * w.blocks + block) * (Q4_BLOCK / 2) + (within >> 1)] as number;
      const q = within % 2 === 0 ? byte & 15 : byte >> 4;
      out[row * n + col] = (q - 8) * (w.scales[col * w.blocks + block] as number);
    }
  }
  return out;
}

const seeded = (length: number, seed: number) => {
  let s = seed;
  return Float32Array.from({ length }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 30 - 1;
  });
};

describe('q4 weights', () => {
  it('maps the signed value of largest magnitude to -8, packs the low nibble first, and stays within half a step', () => {
    const column = Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? -2 : i === 6 ? 1.5 : (i - 16) / 16));
    const w = quantizeQ4(column, 32, 1)!;
    expect(w.scales[0]).toBeCloseTo(0.25, 6); // -2 / -8
    // Byte 2 holds elements 4 (-0.75 -> -3 + 8 = 5, low nibble) and 5 (-2 -> -8 + 8 = 0, high).
    expect(w.packed[2]).toBe(5 | (0 << 4));
    // Byte 3: elements 6 (1.5 -> 6 + 8 = 14) and 7 (-0.5625 -> round(-2.25) + 8 = 6).
    expect(w.packed[3]).toBe(14 | (6 << 4));
    const back = dequantized(w, 32, 1);
    expect(back[5]).toBe(-2);
    for (let i = 0; i < 32; i++) expect(Math.abs(back[i]! - column[i]!)).toBeLessThanOrEqual(0.125 + 1e-7);
  });

  it('pads K to whole blocks and refuses weights that are not finite', () => {
    const w = quantizeQ4(seeded(40 * 3, 1), 40, 3)!;
    expect(w.blocks).toBe(2);
    expect(w.packed.length).toBe(3 * 2 * 16);
    expect(quantizeQ4(Float32Array.of(...new Array(31).fill(0), Number.NaN), 32, 1)).toBeUndefined();
  });

  it("gives what onnxruntime's MatMulNBits computes: A x dequantized(B)", async () => {
    const [m, k, n] = [3, 96, 80];
    const weight = seeded(k * n, 7);
    const g = new GraphAssembler();
    g.opTo('MatMul', ['a', g.f32('w', weight, [k, n])], ['y']);
    const model = modelOf(g.graph('q4', [valueInfo('a', DataType.FLOAT, [m, k])], [valueInfo('y', DataType.FLOAT, [m, n])]), 17, 'test');
    const rewritten = quantizeQ4Model(model, 1);
    expect(rewritten.quantized).toEqual([{ node: expect.any(String), weight: 'w', k, n }]);
    expect(rewritten.model.graph.node.map((x) => x.opType)).toEqual(['MatMulNBits']);
    const session = await ort.InferenceSession.create(concatBytes(encodeModel(rewritten.model)));
    const a = seeded(m * k, 3);
    const y = (await session.run({ a: new ort.Tensor('float32', a, [m, k]) })).y!.data as Float32Array;
    await session.release();
    const b = dequantized(quantizeQ4(weight, k, n)!, k, n);
    let worst = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let t = 0; t < k; t++) sum += a[i * k + t]! * b[t * n + j]!;
        worst = Math.max(worst, Math.abs(sum - y[i * n + j]!));
      }
    }
    // accuracy_level 4 quantizes A to int8 per block, so the kernel is close to, not equal to, fp32.
    expect(worst).toBeLessThan(0.05);
  });
});
