// The fast sampling path against the code it replaced: same kept sets, same rows, same seeded tokens.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allMasked,
  buildProcessors,
  buildTruncation,
  clampLogit,
  DEFAULT_SAMPLING,
  EXP_APPROX_ERROR,
  expApprox,
  frequencyPresencePenalty,
  isGreedy,
  logitBias,
  MAX_LOGIT,
  minP,
  nucleusByBounds,
  nucleusBySort,
  repetitionPenalty,
  sanitizeRow,
  scanRow,
  temperature,
  topK,
  topP,
  type LogitsProcessor,
  type RowScan,
  type SamplingParams,
  type SequenceView,
} from '../../runtime/generation/logits-processors.ts';
import { createRng, type Rng } from '../../runtime/generation/rng.ts';
import { sample } from '../../runtime/generation/sampler.ts';
import { createSequence } from '../../runtime/generation/sequence.ts';
import { before } from '../helpers/reference-sampling.ts';


// ---- Rows and parameters. ----

const VIEW = { generated: [] as number[], generatedCounts: new Map<number, number>(), seen: new Set<number>() };
const apply = (process: LogitsProcessor | ((logits: Float32Array) => void), row: Float32Array) => {
  const out = row.slice();
  process(out, VIEW);
  return out;
};
/** Equal entry for entry, -0 and NaN included. */
const sameRow = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

// Small rows: ordinary values, a few values repeated (ties), masks, extremes.
const value = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: -30, max: 30, noNaN: true }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 1.5, -2, 3.25) },
  { weight: 2, arbitrary: fc.constant(-Infinity) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_LOGIT, -MAX_LOGIT, -0, 1e-38, -1e-38, 1e38, -1e38, 88.7, -103) },
);
const row = fc.array(value, { minLength: 1, maxLength: 64 }).map((xs) => Float32Array.from(xs));
const equalRow = fc.tuple(fc.integer({ min: 1, max: 64 }), fc.float({ min: -20, max: 20, noNaN: true })).map(([n, x]) => new Float32Array(n).fill(x));
const anyRow = fc.oneof({ weight: 8, arbitrary: row }, { weight: 1, arbitrary: equalRow });
/** Rows a processor may be handed directly, NaN and +Infinity included. */
const hostileRow = fc.array(fc.oneof({ weight: 8, arbitrary: value }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity) }), { minLength: 1, maxLength: 64 }).map((xs) => Float32Array.from(xs));

const tiny = fc.constantFrom(1e-300, 1e-38, 1e-10, 5e-324);
const pValue = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, 0.5, 0.9, 0.95, 0.99, 0.9999999, 1 - 2 ** -53), tiny);
const mValue = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, 0.05, 0.1), tiny);
const kValue = fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(1, 2, 50));
const tValue = fc.oneof(fc.double({ min: 1e-5, max: 2, noNaN: true }), fc.constantFrom(0.8, 1, 1e-5, 0.1));
const truncation = fc.record({ temperature: tValue, topK: fc.oneof(fc.constant(0), kValue), topP: fc.oneof(fc.constant(1), pValue), minP: fc.oneof(fc.constant(0), mValue) });

/** Every sampling parameter the edge admits, the extremes included. */
const samplingParams: fc.Arbitrary<SamplingParams> = fc.record({
  temperature: fc.oneof(tValue, fc.constantFrom(0, 1e-300, 1)),
  topP: fc.oneof(fc.constant(1), pValue),
  topK: fc.oneof(fc.constant(0), kValue),
  minP: fc.oneof(fc.constant(0), mValue),
  repetitionPenalty: fc.oneof(fc.constant(1), fc.double({ min: 1e-300, max: 2, noNaN: true })),
  frequencyPenalty: fc.oneof(fc.constant(0), fc.double({ min: -2, max: 2, noNaN: true })),
  presencePenalty: fc.oneof(fc.constant(0), fc.double({ min: -2, max: 2, noNaN: true })),
  logitBias: fc
    .array(fc.tuple(fc.integer({ min: 0, max: 70 }), fc.double({ min: -100, max: 100, noNaN: true })), { maxLength: 4 })
    .map((pairs) => new Map(pairs)),
});

/** A scan's content, copied out of the shared object. */
const scanOf = (row: RowScan) => ({ max: row.max, entries: row.entries ? [...row.entries.subarray(0, row.count)] : undefined });

/** Seeded big rows (49,152 entries) of the shapes decoding sees. */
const VOCAB = 49_152;
function bigRow(seed: number, shape: number): Float32Array {
  const rng = createRng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const sigma = [0.5, 1, 2.5, 4, 8][seed % 5] as number;
  const x = Float32Array.from({ length: VOCAB }, () => normal() * sigma);
  switch (shape % 6) {
    case 1: // peaked: a few tokens far above the rest
      for (let j = 0; j < 3; j++) x[Math.floor(rng() * VOCAB)] = 12 + 4 * j;
      break;
    case 2: // bf16-like logits: many exact ties
      for (let i = 0; i < VOCAB; i++) x[i] = Math.round((x[i] as number) * 8) / 8;
      break;
    case 3: // a grammar-style mask
      for (let i = 0; i < VOCAB; i++) if (rng() < 0.7) x[i] = -Infinity;
      break;
    case 4: // few distinct values
      for (let i = 0; i < VOCAB; i++) x[i] = Math.floor(rng() * 4);
      break;
    case 5: // nearly flat
      for (let i = 0; i < VOCAB; i++) x[i] = (x[i] as number) * 1e-3;
      break;
  }
  return x;
}

/** The cumulative sums today's top-p compares with p (sorted float32 probabilities, float64 sums). */
function cumulativeSums(logits: Float32Array): number[] {
  const probs = before.softmax(logits);
  const sorted = [...probs].filter((q) => q > 0).sort((a, b) => b - a);
  const sums: number[] = [];
  let run = 0;
  for (const q of sorted) sums.push((run += q));
  return sums;
}
const f64 = new Float64Array(1);
const u64 = new BigInt64Array(f64.buffer);
/** The neighbouring double above (dir 1) or below (dir -1) a positive x. */
function nextDouble(x: number, dir: 1 | -1): number {
  f64[0] = x;
  u64[0] = (u64[0] as bigint) + BigInt(dir);
  return f64[0] as number;
}

// ---- Equivalence. ----

describe('the fast processors keep exactly the tokens the sorting ones kept', () => {
  it('top-k, on any row and any k (ties at the boundary kept)', () => {
    fc.assert(
      fc.property(hostileRow, fc.oneof(kValue, fc.constantFrom(0, -1, 2.5, NaN, 64, 65)), (x, k) => {
        const kept = apply(topK(k), x);
        expect(sameRow(kept, apply(before.topK(k), x))).toBe(true);
        if (Number.isInteger(k) && k >= 1 && k < x.length && !x.some(Number.isNaN)) {
          // The definition, by a full sort: everything at least the k-th largest value stays.
          const threshold = [...x].sort((a, b) => b - a)[k - 1] as number;
          expect(sameRow(kept, x.map((v) => (v < threshold ? -Infinity : v)))).toBe(true);
        }
      }),
      { numRuns: 4000, seed: 21 },
    );
  });

  it('top-p, on any row and any p', () => {
    fc.assert(
      fc.property(fc.oneof(anyRow, hostileRow), fc.oneof(pValue, fc.constantFrom(NaN, -1, 2)), (x, p) => {
        expect(sameRow(apply(topP(p), x), apply(before.topP(p), x))).toBe(true);
      }),
      { numRuns: 6000, seed: 22 },
    );
  });

  it('top-p with p exactly at, just above and just below a running sum', () => {
    fc.assert(
      fc.property(anyRow, fc.nat(), fc.constantFrom(0, 1, -1), (x, at, dir) => {
        const sums = cumulativeSums(x);
        if (sums.length === 0) return;
        const exact = sums[at % sums.length] as number;
        const p = dir === 0 ? exact : nextDouble(exact, dir as 1 | -1);
        expect(sameRow(apply(topP(p), x), apply(before.topP(p), x))).toBe(true);
      }),
      { numRuns: 4000, seed: 23 },
    );
  });

  it('the bounded nucleus, whenever it answers, answers as the sort does; the sort is the old one', () => {
    let answered = 0;
    fc.assert(
      fc.property(anyRow, pValue, (x, p) => {
        const expected = apply(before.topP(p), x);
        const scan = scanRow(x);
        if (p < 1 && Number.isFinite(scan.max)) {
          const bounded = x.slice();
          if (nucleusByBounds(bounded, p, scanRow(bounded))) {
            answered++;
            expect(sameRow(bounded, expected)).toBe(true);
          } else expect(sameRow(bounded, x)).toBe(true); // declining leaves the row as it was
          const sorted = x.slice();
          nucleusBySort(sorted, p);
          expect(sameRow(sorted, expected)).toBe(true);
        }
      }),
      { numRuns: 4000, seed: 24 },
    );
    expect(answered).toBeGreaterThan(2500);
  });

  it('min-p and temperature, on any row', () => {
    fc.assert(
      fc.property(hostileRow, mValue, fc.oneof(tValue, fc.constantFrom(0, -1, NaN, 1e-300)), (x, m, t) => {
        expect(sameRow(apply(minP(m), x), apply(before.minP(m), x))).toBe(true);
        expect(sameRow(apply(temperature(t), x), apply(before.temperature(t), x))).toBe(true);
      }),
      { numRuns: 4000, seed: 25 },
    );
  });

  it('sample draws the same token with the same draws, and draws as often', () => {
    fc.assert(
      fc.property(fc.oneof(anyRow, hostileRow), fc.integer(), (x, seed) => {
        const a = createRng(seed);
        const b = createRng(seed);
        expect(sample(x, a)).toBe(before.sample(x, b));
        expect(a()).toBe(b());
      }),
      { numRuns: 6000, seed: 26 },
    );
  });

  it('a whole truncation list then sample: same row, same token', () => {
    fc.assert(
      fc.property(truncation, anyRow, fc.integer(), (params, x, seed) => {
        const sampling = { ...DEFAULT_SAMPLING, ...params };
        const fast = x.slice();
        for (const process of buildProcessors(sampling)) process(fast, VIEW);
        const slow = x.slice();
        for (const process of before.truncations(sampling)) process(slow);
        expect(sameRow(fast, slow)).toBe(true);
        expect(sample(fast, createRng(seed))).toBe(before.sample(slow, createRng(seed)));
      }),
      { numRuns: 4000, seed: 27 },
    );
  });
});

describe('the step sequence.ts runs', () => {
  it('the chained truncations leave the processors\' row, and hand on its scan', () => {
    fc.assert(
      fc.property(truncation, fc.oneof(anyRow, hostileRow), (params, x) => {
        const sampling = { ...DEFAULT_SAMPLING, ...params };
        const viaList = x.slice();
        for (const process of buildProcessors(sampling)) process(viaList, VIEW);
        const viaChain = x.slice();
        const handed = scanOf(buildTruncation(sampling)(viaChain));
        expect(sameRow(viaChain, viaList)).toBe(true);
        const fresh = scanOf(scanRow(viaChain));
        expect(handed.max === fresh.max || (Number.isNaN(handed.max) && Number.isNaN(fresh.max))).toBe(true);
        if (!Number.isNaN(fresh.max)) expect(handed.entries).toEqual(fresh.entries);
      }),
      { numRuns: 5000, seed: 28 },
    );
  });

  it('a seeded sequence picks the tokens it picked before, step after step', () => {
    fc.assert(
      fc.property(samplingParams, fc.array(hostileRow, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 0, max: 63 }), { maxLength: 6 }), fc.integer(), (sampling, rows, prompt, seed) => {
        const width = Math.min(...rows.map((r) => r.length));
        const steps = rows.map((r) => r.subarray(0, width));
        const sequence = createSequence({ prompt, maxTokens: 10, sampling, seed, stop: [], ignoreEos: true, eosIds: new Set(), logprobs: undefined, decode: () => '' });
        const rng = createRng(seed);
        const view = { generated: [] as number[], generatedCounts: new Map<number, number>(), seen: new Set(prompt) };
        for (const logits of steps) {
          const expected = before.step(logits.slice(), sampling, view, rng);
          expect(sequence.step(logits.slice()).token).toBe(expected);
          view.generatedCounts.set(expected, (view.generatedCounts.get(expected) ?? 0) + 1);
          view.seen.add(expected);
        }
      }),
      { numRuns: 3000, seed: 29 },
    );
  });
});

describe('on 49,152-token rows', () => {
  const variants = [
    { temperature: 0.8, topK: 0, topP: 0.9, minP: 0 },
    { temperature: 0.8, topK: 50, topP: 0.9, minP: 0 },
    { temperature: 0.8, topK: 0, topP: 0.9, minP: 0.05 },
    { temperature: 1, topK: 0, topP: 0.5, minP: 0 },
    { temperature: 1.3, topK: 0, topP: 0.95, minP: 0 },
    { temperature: 0.7, topK: 1000, topP: 0.99, minP: 0.01 },
  ];

  it('every variant keeps the same row and samples the same token', () => {
    for (let seed = 0; seed < 120; seed++) {
      const x = bigRow(seed, seed);
      const sampling = { ...DEFAULT_SAMPLING, ...(variants[seed % variants.length] as (typeof variants)[number]) };
      const fast = x.slice();
      for (const process of buildProcessors(sampling)) process(fast, VIEW);
      const slow = x.slice();
      for (const process of before.truncations(sampling)) process(slow);
      expect(sameRow(fast, slow)).toBe(true);
      expect(sample(fast, createRng(seed))).toBe(before.sample(slow, createRng(seed)));
      const chained = x.slice();
      const handed = scanOf(buildTruncation(sampling)(chained));
      expect(sameRow(chained, slow)).toBe(true);
      expect(handed).toEqual(scanOf(scanRow(chained)));
      const sequence = createSequence({ prompt: [], maxTokens: 2, sampling, seed, stop: [], ignoreEos: true, eosIds: new Set(), logprobs: undefined, decode: () => '' });
      expect(sequence.step(x.slice()).token).toBe(before.step(x.slice(), sampling, { generated: [], generatedCounts: new Map(), seen: new Set() }, createRng(seed)));
    }
  });

  it('top-p, top-k and min-p alone, with odd parameters too', () => {
    const ps = [0, 1e-300, 0.1, 0.9, 0.999, 0.9999999];
    const ks = [1, 2, 50, 5000, VOCAB - 1, VOCAB];
    const ms = [1e-300, 0.05, 1];
    for (let seed = 0; seed < 36; seed++) {
      const x = bigRow(1000 + seed, seed);
      const p = ps[seed % ps.length] as number;
      const k = ks[seed % ks.length] as number;
      const m = ms[seed % ms.length] as number;
      expect(sameRow(apply(topP(p), x), apply(before.topP(p), x))).toBe(true);
      expect(sameRow(apply(topK(k), x), apply(before.topK(k), x))).toBe(true);
      expect(sameRow(apply(minP(m), x), apply(before.minP(m), x))).toBe(true);
    }
  });

  it('top-p with p at running-sum boundaries', () => {
    for (let seed = 0; seed < 24; seed++) {
      const x = apply(before.temperature(0.8), bigRow(2000 + seed, seed));
      const sums = cumulativeSums(x);
      const exact = sums[Math.floor(sums.length * [0.001, 0.01, 0.1, 0.3][seed % 4]!)] as number;
      for (const p of [exact, nextDouble(exact, 1), nextDouble(exact, -1)]) {
        if (p < 1) expect(sameRow(apply(topP(p), x), apply(before.topP(p), x))).toBe(true);
      }
    }
  });

  it('the bounds settle realistic rows without sorting', () => {
    let answered = 0;
    const rows = 60;
    for (let seed = 0; seed < rows; seed++) {
      const x = apply(before.temperature(0.8), bigRow(3000 + seed, [0, 1, 2][seed % 3] as number));
      if (nucleusByBounds(x, [0.9, 0.95, 0.5][seed % 3] as number, scanRow(x))) answered++;
    }
    expect(answered).toBeGreaterThanOrEqual(rows - 1);
  });
});

describe('expApprox', () => {
  it('stays within EXP_APPROX_ERROR of Math.exp over (-63, 0]', () => {
    const rng = createRng(9);
    let worst = 0;
    const check = (d: number) => {
      const error = Math.abs(expApprox(d) / Math.exp(d) - 1);
      if (error > worst) worst = error;
    };
    for (let i = 0; i < 400_000; i++) check(-63 * rng());
    // Around every step m ln2/64, where the reduced argument is at its widest.
    for (let m = 0; m < 5817; m++) for (const offset of [-0.5, -0.4999999, 0.4999999, 0.5]) check(Math.min(0, -(m + offset) * (Math.LN2 / 64)));
    check(0);
    check(-62.999999);
    expect(worst).toBeLessThan(EXP_APPROX_ERROR / 2);
  });
});
