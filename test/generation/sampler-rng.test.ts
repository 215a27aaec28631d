import { describe, expect, it } from 'vitest';
import { choiceSeed, createRng } from '../../runtime/generation/rng.ts';
import { argmax, logprobsOf, sample } from '../../runtime/generation/sampler.ts';

describe('seeded sampling', () => {
  it('the same seed gives the same stream; another seed another', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(xs);
    expect(Array.from({ length: 5 }, c)).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('choices of one seeded request get distinct, reproducible seeds', () => {
    expect(choiceSeed(7, 0)).toBe(choiceSeed(7, 0));
    expect(choiceSeed(7, 0)).not.toBe(choiceSeed(7, 1));
  });

  it('samples in proportion to softmax', () => {
    const rng = createRng(1);
    const logits = Float32Array.from([Math.log(0.7), Math.log(0.2), Math.log(0.1)]);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[sample(logits, rng)]!++;
    expect(counts[0]! / 20_000).toBeCloseTo(0.7, 1);
    expect(counts[2]! / 20_000).toBeCloseTo(0.1, 1);
  });

  it('never samples a token masked to -Infinity', () => {
    const rng = createRng(3);
    const logits = Float32Array.from([-Infinity, 0, -Infinity]);
    for (let i = 0; i < 100; i++) expect(sample(logits, rng)).toBe(1);
  });

  it('argmax and log-probabilities', () => {
    const logits = Float32Array.from([1, 3, 2]);
    expect(argmax(logits)).toBe(1);
    const { logprob, top } = logprobsOf(logits, 2, 2);
    const z = Math.log(Math.exp(1) + Math.exp(3) + Math.exp(2));
    expect(logprob).toBeCloseTo(2 - z, 6);
    expect(top.map((t) => t.token)).toEqual([1, 2]);
  });
});
