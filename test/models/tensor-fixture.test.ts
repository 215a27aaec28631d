// The `tensor`-task fixtures (tiny-mlp-tensor, tiny-identity-tensor) load and run in onnxruntime as designed.
import * as ort from 'onnxruntime-node';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPreset } from '../../models/build.ts';
import { IDENTITY_TYPES } from '../../models/builder/mlp.ts';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const FILES = ['config.json', 'onnx/model.onnx'];
const PRESET_NAMES = ['tiny-mlp-tensor', 'tiny-identity-tensor'];

/** name, type and shape of each graph input or output, as onnxruntime reports them. */
const describeValues = (values: readonly ort.InferenceSession.ValueMetadata[]) =>
  values.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: 'non-tensor', shape: [] }));

/** Deterministic pseudo-random numbers in [0, 1) (an LCG; the values only need to vary). */
function sequence(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const dir = mkdtempSync(join(tmpdir(), 'ovserve-tensor-fixture-'));
beforeAll(() => {
  for (const name of PRESET_NAMES) buildPreset(name, join(dir, name));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tensor fixture presets', () => {
  it.each(PRESET_NAMES)('%s is deterministic: building twice gives byte-identical files', (name) => {
    buildPreset(name, join(dir, `${name}-again`));
    for (const file of FILES) expect(sha(join(dir, `${name}-again`, file)), file).toBe(sha(join(dir, name, file)));
  });

  it('writes config.json marking the fixture and its model type', () => {
    expect(JSON.parse(readFileSync(join(dir, 'tiny-mlp-tensor', 'config.json'), 'utf8'))).toMatchObject({ model_type: 'mlp', _comment: expect.stringContaining('RANDOM-WEIGHT') });
    expect(JSON.parse(readFileSync(join(dir, 'tiny-identity-tensor', 'config.json'), 'utf8'))).toMatchObject({ model_type: 'identity' });
  });
});

describe('tiny-mlp-tensor', () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(join(dir, 'tiny-mlp-tensor', 'onnx', 'model.onnx'));
  });
  afterAll(() => session.release());

  interface Rows {
    input: number[][];
    scale: number[];
    mask: boolean[][];
  }
  interface Out {
    probabilities: number[][];
    label: number[];
  }

  const run = async ({ input, scale, mask }: Rows): Promise<Out> => {
    const n = input.length;
    const out = await session.run({
      input: new ort.Tensor('float32', Float32Array.from(input.flat()), [n, 4]),
      scale: new ort.Tensor('int32', Int32Array.from(scale), [n, 1]),
      mask: new ort.Tensor('bool', Uint8Array.from(mask.flat().map(Number)), [n, 4]),
    });
    const probabilities = out.probabilities as ort.Tensor;
    const label = out.label as ort.Tensor;
    expect(probabilities.type).toBe('float32');
    expect(probabilities.dims).toEqual([n, 3]);
    expect(label.type).toBe('int64');
    expect(label.dims).toEqual([n]);
    const p = Array.from(probabilities.data as Float32Array);
    return { probabilities: Array.from({ length: n }, (_, i) => p.slice(i * 3, i * 3 + 3)), label: Array.from(label.data as BigInt64Array, Number) };
  };

  const rows = (n: number, seed: number): Rows => {
    const next = sequence(seed);
    return {
      input: Array.from({ length: n }, () => Array.from({ length: 4 }, () => next() * 4 - 2)),
      scale: Array.from({ length: n }, () => 1 + Math.floor(next() * 3)),
      mask: Array.from({ length: n }, () => Array.from({ length: 4 }, () => next() < 0.75)),
    };
  };
  const row = (r: Rows, i: number): Rows => ({ input: [r.input[i]!], scale: [r.scale[i]!], mask: [r.mask[i]!] });
  const argmax = (v: number[]) => v.reduce((best, x, i) => (x > (v[best] as number) ? i : best), 0);

  it('declares input/scale/mask in and probabilities/label out, with a symbolic batch dim', () => {
    expect(session.inputNames).toEqual(['input', 'scale', 'mask']);
    expect(session.outputNames).toEqual(['probabilities', 'label']);
    expect(describeValues(session.inputMetadata)).toEqual([
      { name: 'input', type: 'float32', shape: ['batch', 4] },
      { name: 'scale', type: 'int32', shape: ['batch', 1] },
      { name: 'mask', type: 'bool', shape: ['batch', 4] },
    ]);
    expect(describeValues(session.outputMetadata)).toEqual([
      { name: 'probabilities', type: 'float32', shape: ['batch', 3] },
      { name: 'label', type: 'int64', shape: ['batch'] },
    ]);
  });

  it.each([1, 5])('batch %i: probability rows sum to 1 and label is their argmax', async (n) => {
    const out = await run(rows(n, 11 + n));
    expect(out.label).toHaveLength(n);
    for (const [i, p] of out.probabilities.entries()) {
      expect(Math.abs(p.reduce((s, x) => s + x, 0) - 1)).toBeLessThan(1e-5);
      expect(p.every((x) => x > 0 && x < 1)).toBe(true);
      expect(out.label[i]).toBe(argmax(p));
    }
  });

  it('row i of a batch run equals running row i alone', async () => {
    const batch = rows(5, 23);
    const together = await run(batch);
    for (let i = 0; i < 5; i++) {
      const alone = await run(row(batch, i));
      expect(alone.label[0]).toBe(together.label[i]);
      alone.probabilities[0]!.forEach((p, j) => expect(p).toBeCloseTo(together.probabilities[i]![j]!, 6));
    }
  });

  it('is not constant: random rows reach every label', async () => {
    const out = await run({ ...rows(200, 31), scale: Array(200).fill(1), mask: Array.from({ length: 200 }, () => [true, true, true, true]) });
    expect(new Set(out.label)).toEqual(new Set([0, 1, 2]));
  });

  it('mask zeroes masked features: masking equals feeding 0 there, and changes the answer', async () => {
    const x = [[1.5, -0.5, 2, 0.75]];
    const all = [[true, true, true, true]];
    const full = await run({ input: x, scale: [1], mask: all });
    const masked = await run({ input: x, scale: [1], mask: [[true, false, true, false]] });
    const zeroed = await run({ input: [[1.5, 0, 2, 0]], scale: [1], mask: all });
    expect(masked).toEqual(zeroed);
    expect(masked.probabilities).not.toEqual(full.probabilities);
    // Everything masked: the input no longer matters.
    const none = [[false, false, false, false]];
    expect(await run({ input: x, scale: [1], mask: none })).toEqual(await run({ input: [[-9, 9, 3, -3]], scale: [1], mask: none }));
  });

  it('scale multiplies the input: scale 2 equals doubling x; scale 0 equals masking everything', async () => {
    const x = [[0.25, -1, 0.5, 1.25]];
    const all = [[true, true, true, true]];
    const once = await run({ input: x, scale: [1], mask: all });
    const twice = await run({ input: x, scale: [2], mask: all });
    expect(twice).toEqual(await run({ input: [x[0]!.map((v) => v * 2)], scale: [1], mask: all }));
    expect(twice.probabilities).not.toEqual(once.probabilities);
    expect(await run({ input: x, scale: [0], mask: all })).toEqual(await run({ input: x, scale: [1], mask: [[false, false, false, false]] }));
  });
});

describe('tiny-identity-tensor', () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(join(dir, 'tiny-identity-tensor', 'onnx', 'model.onnx'));
  });
  afterAll(() => session.release());

  const TYPES = Object.keys(IDENTITY_TYPES) as ort.Tensor.Type[];
  // float16 travels as its raw bits; bool as one byte per element.
  const ARRAYS: Partial<Record<ort.Tensor.Type, new (length: number) => ort.Tensor.DataType>> = {
    bool: Uint8Array,
    uint8: Uint8Array,
    uint16: Uint16Array,
    uint32: Uint32Array,
    uint64: BigUint64Array,
    int8: Int8Array,
    int16: Int16Array,
    int32: Int32Array,
    int64: BigInt64Array,
    float16: Uint16Array,
    float32: Float32Array,
    float64: Float64Array,
  };
  const bytes = (data: ort.Tensor.DataType) => {
    const view = data as ArrayBufferView;
    return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  };

  /** Seeded random bit patterns (so extremes, NaN and infinities occur); bool gets 0 or 1. */
  const feeds = (n: number, seed: number): Record<string, ort.Tensor> => {
    const next = sequence(seed);
    return Object.fromEntries(
      TYPES.map((type) => {
        const data = new ARRAYS[type]!(n * 3);
        const raw = bytes(data);
        for (let i = 0; i < raw.length; i++) raw[i] = type === 'bool' ? Number(next() < 0.5) : Math.floor(next() * 256);
        return [`input_${type}`, new ort.Tensor(type, data, [n, 3])];
      }),
    );
  };

  it('covers every tensor type the runtime exchanges, bool and fp16 included', () => {
    expect(TYPES).toHaveLength(12);
    expect(new Set(TYPES)).toEqual(new Set(Object.keys(ARRAYS)));
  });

  it('declares input_<type> -> output_<type> for each type, with a symbolic batch dim', () => {
    expect(describeValues(session.inputMetadata)).toEqual(TYPES.map((type) => ({ name: `input_${type}`, type, shape: ['batch', 3] })));
    expect(describeValues(session.outputMetadata)).toEqual(TYPES.map((type) => ({ name: `output_${type}`, type, shape: ['batch', 3] })));
  });

  it.each([1, 5])('batch %i: returns every input unchanged, bit for bit', async (n) => {
    const inputs = feeds(n, 41 + n);
    const out = await session.run(inputs);
    for (const type of TYPES) {
      const got = out[`output_${type}`] as ort.Tensor;
      const sent = inputs[`input_${type}`] as ort.Tensor;
      expect(got.type, type).toBe(type);
      expect(got.dims, type).toEqual([n, 3]);
      expect(bytes(got.data).equals(bytes(sent.data)), type).toBe(true);
    }
  });
});
