// The KV budget's policy (runtime/batching/kv-budget.ts): rows x the longest row, admission within
// it, and the newest rows preempted when growth would exceed it.
import { describe, expect, it } from 'vitest';
import { admits, kvCost, preemptions } from '../../runtime/batching/kv-budget.ts';

const rows = (...lengths: number[]) => lengths.map((length, order) => ({ length, order }));

describe('KV budget', () => {
  it('costs rows x the longest row', () => {
    expect(kvCost(rows(10, 40, 20))).toBe(120);
    expect(kvCost(rows(10, 40, 20), 1)).toBe(123);
    expect(kvCost([])).toBe(0);
  });

  it('admits while rows x longest (one position to decode included) fits; no budget admits all; an empty batch admits anyone', () => {
    expect(admits(rows(10, 10), 10, 33)).toBe(true); // 3 x 11
    expect(admits(rows(10, 10), 10, 32)).toBe(false);
    expect(admits(rows(10), 40, 82)).toBe(true); // 2 x 41
    expect(admits(rows(10), 40, 81)).toBe(false);
    expect(admits(rows(10, 10), 1000, undefined)).toBe(true);
    expect(admits([], 1000, 5)).toBe(true);
  });

  it('preempts the newest rows until the rest can grow within the budget, keeping one', () => {
    expect(preemptions(rows(20, 20, 20), 63, 1)).toEqual([]);
    expect(preemptions(rows(20, 20, 20), 62, 1)).toEqual([2]);
    expect(preemptions(rows(20, 20, 20), 41, 1)).toEqual([2, 1]);
    expect(preemptions(rows(20, 20, 20), 5, 1)).toEqual([2, 1]);
    // Newest by admission order, not by row position.
    expect(preemptions([{ length: 20, order: 5 }, { length: 20, order: 1 }], 30, 1)).toEqual([0]);
    expect(preemptions(rows(20, 20), undefined, 1)).toEqual([]);
  });
});
