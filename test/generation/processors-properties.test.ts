// Property tests: every generation piece is total over extreme parameters and hostile logits rows.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildProcessors,
  DEFAULT_SAMPLING,
  MAX_LOGIT,
  softmax,
  topP,
  type SamplingParams,
} from '../../runtime/generation/logits-processors.ts';
import { createRng } from '../../runtime/generation/rng.ts';
import { argmax, logprobsOf, sample } from '../../runtime/generation/sampler.ts';
import { createSequence } from '../../runtime/generation/sequence.ts';

const VOCAB = 64;
// Values a model (or an overflow upstream) can put in a row, the awkward ones over-represented.
const logit = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: -30, max: 30, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, MAX_LOGIT, -MAX_LOGIT, 0, -0, 1e-38, 1e38) },
  { weight: 1, arbitrary: fc.float() },
);
const row = fc.array(logit, { minLength: 1, maxLength: VOCAB }).map((xs) => Float32Array.from(xs));

// Every value the edge admits (generation-params.ts), with the extremes that once hung the server.
const tiny = fc.constantFrom(1e-300, 1e-38, 1e-10, 1e-5, 5e-6);
const params: fc.Arbitrary<SamplingParams> = fc.record({
  temperature: fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), tiny, fc.constant(0)),
  topP: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, 1e-300, 0.9999999)),
  topK: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: VOCAB * 2 })),
  minP: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, 1e-300)),
  repetitionPenalty: fc.oneof(fc.double({ min: 1e-300, max: 2, noNaN: true }), tiny, fc.constant(2)),
  frequencyPenalty: fc.double({ min: -2, max: 2, noNaN: true }),
  presencePenalty: fc.double({ min: -2, max: 2, noNaN: true }),
  logitBias: fc
    .array(fc.tuple(fc.integer({ min: 0, max: VOCAB * 2 }), fc.double({ min: -100, max: 100, noNaN: true })), { maxLength: 8 })
    .map((pairs) => new Map(pairs)),
});
const history = fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { maxLength: 12 });

const view = (tokens: number[]) => {
  const counts = new Map<number, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  return { generated: tokens, generatedCounts: counts, seen: new Set(tokens) };
};
const decode = (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');

describe('generation pieces are total', () => {
  it('a sequence step always ends with an in-vocabulary token and finite-or-absent logprobs', () => {
    fc.assert(
      fc.property(params, row, history, fc.integer(), (sampling, logits, prompt, seed) => {
        const seq = createSequence({ prompt, maxTokens: 4, sampling, seed, stop: ['zz'], ignoreEos: false, eosIds: new Set([1]), logprobs: 2, decode });
        const out = seq.step(logits);
        expect(Number.isInteger(out.token)).toBe(true);
        expect(out.token).toBeGreaterThanOrEqual(0);
        expect(out.token).toBeLessThan(logits.length);
        expect(typeof out.text).toBe('string');
        expect(Number.isNaN(out.logprob?.logprob)).toBe(false);
      }),
      { numRuns: 3000, seed: 12 },
    );
  });

  it('no processor turns a row without NaN and +Infinity into one with them', () => {
    fc.assert(
      fc.property(params, row, history, (sampling, logits, generated) => {
        for (let i = 0; i < logits.length; i++) if (Number.isNaN(logits[i]) || logits[i] === Infinity) logits[i] = 0;
        for (const process of buildProcessors(sampling)) {
          process(logits, view(generated));
          for (const x of logits) {
            expect(Number.isNaN(x)).toBe(false);
            expect(x).not.toBe(Infinity);
          }
        }
      }),
      { numRuns: 3000, seed: 13 },
    );
  });

  it('top-p keeps at least one token of any row with a finite entry, and ends on any row', () => {
    fc.assert(
      fc.property(row, fc.double({ min: 0, max: 1, noNaN: true }), (logits, p) => {
        const hadFinite = [...logits].some((x) => Number.isFinite(x));
        topP(p)(logits, view([]));
        if (hadFinite) expect([...logits].some((x) => x > -Infinity)).toBe(true);
      }),
      { numRuns: 3000, seed: 14 },
    );
  });

  it('softmax, sample and logprobs never give NaN or an index outside the row', () => {
    fc.assert(
      fc.property(row, fc.integer(), (logits, seed) => {
        const probs = softmax(logits);
        for (const p of probs) expect(Number.isNaN(p)).toBe(false);
        const token = sample(logits, createRng(seed));
        expect(token).toBeGreaterThanOrEqual(0);
        expect(token).toBeLessThan(logits.length);
        expect(argmax(logits)).toBeLessThan(logits.length);
        expect(Number.isNaN(logprobsOf(logits, token, 3).logprob)).toBe(false);
      }),
      { numRuns: 3000, seed: 15 },
    );
  });

  // The reported hang: temperature 1e-300 made every logit infinite, softmax NaN, and top-p loop forever.
  it.each([
    { temperature: 1e-300, topP: 0.5 },
    { temperature: 1e-38, topP: 0.9 },
    { temperature: 1, topP: 0.5, repetitionPenalty: 1e-300 },
    { temperature: 0.7, topP: 0.95, minP: 1e-300, repetitionPenalty: 1e-300 },
  ])('%o picks the most likely token instead of hanging', (overrides) => {
    const logits = Float32Array.from({ length: VOCAB }, (_, i) => Math.sin(i) * 5);
    const best = argmax(logits);
    const seq = createSequence({
      prompt: [],
      maxTokens: 1,
      sampling: { ...DEFAULT_SAMPLING, ...overrides },
      seed: 1,
      stop: [],
      ignoreEos: true,
      eosIds: new Set(),
      logprobs: undefined,
      decode,
    });
    expect(seq.step(logits.slice()).token).toBe(best);
  });

  it('an all-NaN or all-masked row falls back to a valid token; a +Infinity logit wins', () => {
    const step = (logits: Float32Array) =>
      createSequence({ prompt: [], maxTokens: 1, sampling: { ...DEFAULT_SAMPLING, topP: 0.5 }, seed: 3, stop: [], ignoreEos: true, eosIds: new Set(), logprobs: 1, decode }).step(logits).token;
    expect(step(new Float32Array(8).fill(NaN))).toBe(0);
    expect(step(new Float32Array(8).fill(-Infinity))).toBe(0);
    const spike = new Float32Array(8);
    spike[5] = Infinity;
    expect(step(spike)).toBe(5);
  });
});
