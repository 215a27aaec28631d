// Blockwise weights (runtime/onnx/quantize-blocks.ts): q4_0 and q8_0 blocks, nibble order, the
// tied-head (transposed) layout, and what onnxruntime's MatMulNBits kernel computes from them.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../runtime/onnx/model-proto.ts';
import { GraphAssembler, modelOf, valueInfo } from '../../runtime/onnx/graph-assembler.ts';
import { encodeModel } from '../../runtime/onnx/model-proto.ts';
import { concatBytes } from '../../runtime/onnx/protobuf-writer.ts';
import { BLOCK, quantizeBlocks, quantizeBlockwise, type Bits } from '../../runtime/onnx/quantize-blocks.ts';

/** (q - zero) * d for weight (row, col) of B [K, N]. */
function dequantized(w: NonNullable<ReturnType<typeof quantizeBlocks>>, k: number, n: number, bits: Bits): Float32Array {
  const out = new Float32Array(k * n);
  const blob = (BLOCK * bits) / 8;
  for (let col = 0; col < n; col++) {
    for (let row = 0; row < k; row++) {
      const block = Math.floor(row / BLOCK);
      const within = row % BLOCK;
      const at = (col * w.blocks + block) * blob;
      const byte = w.packed[at + (bits === 4 ? within >> 1 : within)] as number;
      const q = bits === 8 ? byte - 128 : (within % 2 === 0 ? byte & 15 : byte >> 4) - 8;
      out[row * n + col] = q * (w.scales[col * w.blocks + block] as number);
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

describe('blockwise weights', () => {
  it('maps the signed value of largest magnitude to -8, packs the low nibble first, and stays within half a step', () => {
    const column = Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? -2 : i === 6 ? 1.5 : (i - 16) / 16));
    const w = quantizeBlocks(column, 32, 1, 4)!;
    expect(w.scales[0]).toBeCloseTo(0.25, 6); // -2 / -8
    // Byte 2 holds elements 4 (-0.75 -> -3 + 8 = 5, low nibble) and 5 (-2 -> -8 + 8 = 0, high).
    expect(w.packed[2]).toBe(5 | (0 << 4));
    // Byte 3: elements 6 (1.5 -> 6 + 8 = 14) and 7 (-0.5625 -> round(-2.25) + 8 = 6).
    expect(w.packed[3]).toBe(14 | (6 << 4));
    const back = dequantized(w, 32, 1, 4);
    expect(back[5]).toBe(-2);
    for (let i = 0; i < 32; i++) expect(Math.abs(back[i]! - column[i]!)).toBeLessThanOrEqual(0.125 + 1e-7);
  });

  it('pads K to whole blocks and refuses weights that are not finite', () => {
    const w = quantizeBlocks(seeded(40 * 3, 1), 40, 3, 4)!;
    expect(w.blocks).toBe(2);
    expect(w.packed.length).toBe(3 * 2 * 16);
    expect(quantizeBlocks(seeded(40 * 3, 1), 40, 3, 8)!.packed.length).toBe(3 * 2 * 32);
    expect(quantizeBlocks(Float32Array.of(...new Array(31).fill(0), Number.NaN), 32, 1, 4)).toBeUndefined();
  });

  it('8 bits: d = max|w| / 127 around the zero point 128, within half a step', () => {
    const column = seeded(64, 5);
    const w = quantizeBlocks(column, 64, 1, 8)!;
    const back = dequantized(w, 64, 1, 8);
    for (let i = 0; i < 64; i++) expect(Math.abs(back[i]! - column[i]!)).toBeLessThanOrEqual(w.scales[Math.floor(i / 32)]! / 2 + 1e-7);
  });

  it('quantizes a table read through a Transpose as the B it stands for', () => {
    const [k, n] = [64, 5];
    const table = seeded(n * k, 9); // [N, K]
    const b = new Float32Array(k * n);
    for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) b[c * n + r] = table[r * k + c]!;
    expect(quantizeBlocks(table, k, n, 8, true)).toEqual(quantizeBlocks(b, k, n, 8));
  });

  it.each([4, 8] as const)("gives what onnxruntime's MatMulNBits computes at %i bits: A x dequantized(B), for plain and tied weights", async (bits) => {
    const [m, k, n] = [3, 96, 80];
    const weight = seeded(k * n, 7);
    const table = seeded(n * k, 11); // a tied head's [N, K] table, read through a Transpose
    const g = new GraphAssembler();
    g.opTo('MatMul', ['a', g.f32('w', weight, [k, n])], ['y']);
    g.opTo('MatMul', ['a', g.op('Transpose', [g.f32('table', table, [n, k])], { perm: [1, 0] })], ['z']);
    const model = modelOf(g.graph('blocks', [valueInfo('a', DataType.FLOAT, [m, k])], [valueInfo('y', DataType.FLOAT, [m, n]), valueInfo('z', DataType.FLOAT, [m, n])]), 17, 'test');
    const rewritten = quantizeBlockwise(model, { bits, transposedBits: 8, minElements: 1 });
    expect(rewritten.quantized.map((q) => [q.weight, q.bits, q.transposed])).toEqual([['w', bits, false], ['table', 8, true]]);
    expect(rewritten.model.graph.node.map((x) => x.opType)).toEqual(['MatMulNBits', 'MatMulNBits']);
    const session = await ort.InferenceSession.create(concatBytes(encodeModel(rewritten.model)));
    const a = seeded(m * k, 3);
    const out = await session.run({ a: new ort.Tensor('float32', a, [m, k]) });
    await session.release();
    const worstOf = (y: Float32Array, b: Float32Array) => {
      let worst = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          for (let t = 0; t < k; t++) sum += a[i * k + t]! * b[t * n + j]!;
          worst = Math.max(worst, Math.abs(sum - y[i * n + j]!));
        }
      }
      return worst;
    };
    // accuracy_level 4 quantizes A to int8 per block, so the kernel is close to, not equal to, fp32.
    expect(worstOf(out.y!.data as Float32Array, dequantized(quantizeBlocks(weight, k, n, bits)!, k, n, bits))).toBeLessThan(0.05);
    expect(worstOf(out.z!.data as Float32Array, dequantized(quantizeBlocks(table, k, n, 8, true)!, k, n, 8))).toBeLessThan(0.05);
  });
});
