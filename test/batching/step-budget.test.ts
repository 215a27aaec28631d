// Chunked prefill's budget (runtime/batching/step-budget.ts): decode first, prompts share the rest
// oldest first, and the oldest prompt always progresses.
import { describe, expect, it } from 'vitest';
import { grantPrefill, stepBudget } from '../../runtime/batching/step-budget.ts';

const budget = { budget: 256, floor: 32 };

describe('grantPrefill', () => {
  it('gives prompts what decoding leaves, oldest first, a chunk where a prompt is longer', () => {
    expect(grantPrefill(budget, 7, [1000])).toEqual([249]);
    expect(grantPrefill(budget, 7, [100, 1000, 50])).toEqual([100, 149, 0]);
    expect(grantPrefill(budget, 0, [10, 20])).toEqual([10, 20]);
  });

  it('never grants more than a prompt needs, nor more than the budget in total (beyond the floor)', () => {
    for (let decode = 0; decode < 300; decode += 13) {
      const remaining = [5, 400, 17, 90];
      const grants = grantPrefill(budget, decode, remaining);
      grants.forEach((g, i) => expect(g).toBeLessThanOrEqual(remaining[i]!));
      const total = grants.reduce((a, b) => a + b, 0);
      expect(decode + total).toBeLessThanOrEqual(Math.max(256, decode + 32));
    }
  });

  it('the oldest prompt gets the floor even when decoding fills the step', () => {
    expect(grantPrefill(budget, 256, [1000, 10])).toEqual([32, 0]);
    expect(grantPrefill(budget, 300, [8])).toEqual([8]);
  });

  it('an empty queue grants nothing', () => expect(grantPrefill(budget, 3, [])).toEqual([]));
});

describe('stepBudget', () => {
  it('is max_step_tokens while flowing streams outnumber waiting prompts, and grows with their share', () => {
    expect(stepBudget(64, 7, 1)).toBe(64);
    expect(stepBudget(64, 4, 4)).toBe(64);
    expect(stepBudget(64, 1, 6)).toBe(384);
    expect(stepBudget(64, 2, 3)).toBe(96);
  });

  it('is unbounded with no stream flowing', () => {
    expect(stepBudget(64, 0, 5)).toBe(Infinity);
    expect(stepBudget(64, 0, 0)).toBe(Infinity);
  });
});
