import { describe, expect, it } from 'vitest';
import {
  buildProcessors,
  DEFAULT_SAMPLING,
  frequencyPresencePenalty,
  kthLargest,
  logitBias,
  minP,
  repetitionPenalty,
  softmax,
  temperature,
  topK,
  topP,
} from '../../runtime/generation/logits-processors.ts';

const row = (...xs: number[]) => Float32Array.from(xs);
const view = (generated: number[] = [], prompt: number[] = []) => {
  const counts = new Map<number, number>();
  for (const t of generated) counts.set(t, (counts.get(t) ?? 0) + 1);
  return { generated, generatedCounts: counts, seen: new Set([...prompt, ...generated]) };
};
const kept = (x: Float32Array) => [...x].map((v, i) => (v === -Infinity ? -1 : i)).filter((i) => i >= 0);

describe('logits processors', () => {
  it('logit_bias adds to the named tokens only', () => {
    const x = row(1, 2, 3);
    logitBias(new Map([[0, 5], [2, -100]]))(x, view());
    expect([...x]).toEqual([6, 2, -97]);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const x = row(2, -2, 4);
    repetitionPenalty(2)(x, view([0], [1]));
    expect([...x]).toEqual([1, -4, 4]);
  });

  it('frequency and presence penalties follow OpenAI: count * frequency + presence', () => {
    const x = row(0, 0, 0);
    frequencyPresencePenalty(0.5, 1)(x, view([1, 1, 1, 2]));
    expect([...x]).toEqual([0, -2.5, -1.5]);
  });

  it('temperature divides', () => {
    const x = row(2, 4);
    temperature(2)(x, view());
    expect([...x]).toEqual([1, 2]);
  });

  it('top-k keeps the k largest', () => {
    const x = row(1, 5, 3, 4, 2);
    topK(2)(x, view());
    expect(kept(x)).toEqual([1, 3]);
    expect(kthLargest(row(1, 5, 3, 4, 2), 3)).toBe(3);
  });

  it('top-p keeps the smallest most-likely set reaching p', () => {
    // probabilities 0.5, 0.3, 0.15, 0.05
    const x = row(...[0.5, 0.3, 0.15, 0.05].map(Math.log));
    topP(0.7)(x, view());
    expect(kept(x)).toEqual([0, 1]);
    const y = row(...[0.5, 0.3, 0.15, 0.05].map(Math.log));
    topP(0.81)(y, view());
    expect(kept(y)).toEqual([0, 1, 2]);
  });

  it('top-p stays exact over a large vocabulary with a long tail', () => {
    const n = 50_000;
    const dominant = new Float32Array(n).fill(0);
    dominant[7] = 20; // p = 0.9999...
    topP(0.5)(dominant, view());
    expect(kept(dominant)).toEqual([7]);
    // p(7) = e^10 / (e^10 + 49 999) = 0.306: the nucleus adds tail tokens until 0.5 is reached.
    const x = new Float32Array(n).fill(0);
    x[7] = 10;
    topP(0.5)(x, view());
    const z = Math.exp(10) + (n - 1);
    const tail = Math.ceil((0.5 - Math.exp(10) / z) * z);
    expect(kept(x)).toHaveLength(1 + tail);
    expect(kept(x)).toContain(7);
    const flat = new Float32Array(n).fill(0);
    topP(0.5)(flat, view());
    // Half the tokens, give or take one for float rounding exactly at the boundary.
    expect(Math.abs(kept(flat).length - n / 2)).toBeLessThanOrEqual(1);
  });

  it('min-p drops tokens below min_p times the top probability', () => {
    const x = row(...[0.6, 0.3, 0.05, 0.05].map(Math.log));
    minP(0.2)(x, view());
    expect(kept(x)).toEqual([0, 1]);
  });

  it('composes in order and leaves greedy requests untruncated', () => {
    expect(buildProcessors(DEFAULT_SAMPLING)).toHaveLength(0);
    expect(buildProcessors({ ...DEFAULT_SAMPLING, temperature: 0, topK: 5, topP: 0.5 })).toHaveLength(0);
    expect(buildProcessors({ ...DEFAULT_SAMPLING, temperature: 0.7, topK: 5, topP: 0.5, minP: 0.1, repetitionPenalty: 1.1 })).toHaveLength(5);
  });

  it('softmax sums to one', () => {
    expect(softmax(row(1, 2, 3)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });
});
