// The prefix cache's index (runtime/batching/prefix-cache.ts): chain keys of whole blocks, the
// longest cached run from the start, and least recently used eviction that takes chains' tails first.
import { describe, expect, it } from 'vitest';
import { createPrefixCache } from '../../runtime/batching/prefix-cache.ts';

const tokens = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('prefix cache index', () => {
  it('keys whole blocks by their tokens and everything before them', () => {
    const cache = createPrefixCache(4, 100);
    const a = cache.keys(tokens(10));
    expect(a).toHaveLength(2); // the partial third block has no key
    const b = cache.keys([...tokens(4), 99, 5, 6, 7]);
    expect(b[0]).toBe(a[0]);
    expect(b[1]).not.toBe(a[1]);
    // Same block tokens after a different prefix: a different key.
    const c = cache.keys([9, 9, 9, 9, 4, 5, 6, 7]);
    expect(c[1]).not.toBe(a[1]);
  });

  it('finds the longest cached run from the start and saves only blocks not held', () => {
    const cache = createPrefixCache(4, 100);
    const keys = cache.keys(tokens(12));
    expect(cache.lookup(keys)).toEqual([]);
    const first = cache.insert(keys.slice(0, 2), 0);
    expect(first.save.map((s) => s.block)).toEqual([0, 1]);
    expect(first.drop).toEqual([]);
    const ids = first.save.map((s) => s.id);
    expect(cache.lookup(keys)).toEqual(ids);
    const second = cache.insert(keys, 0);
    expect(second.save.map((s) => s.block)).toEqual([2]);
    expect(cache.lookup(keys)).toEqual([...ids, second.save[0]!.id]);
    expect(cache.size).toBe(3);
    // A gap ends the run: a prompt that shares only block 0.
    expect(cache.lookup(cache.keys([...tokens(4), 50, 51, 52, 53, ...tokens(4, 8)]))).toEqual([ids[0]]);
  });

  it('evicts least recently used blocks beyond capacity, tails of chains before their heads', () => {
    const cache = createPrefixCache(2, 4);
    const a = cache.keys(tokens(6)); // 3 blocks
    const b = cache.keys(tokens(6, 100));
    const savedA = cache.insert(a, 0).save.map((s) => s.id);
    const { save, drop } = cache.insert(b, 0);
    expect(save).toHaveLength(3);
    // Two of a's blocks go, its tail first: its head is still found.
    expect(drop).toEqual([savedA[2], savedA[1]]);
    expect(cache.size).toBe(4);
    expect(cache.lookup(a)).toEqual([savedA[0]]);
    expect(cache.lookup(b)).toEqual(save.map((s) => s.id));
  });

  it('never returns a block to save that it evicted in the same insert', () => {
    const cache = createPrefixCache(2, 2);
    const { save, drop } = cache.insert(cache.keys(tokens(10)), 0);
    expect(save.map((s) => s.block)).toEqual([0, 1]);
    expect(drop).toEqual([]);
    expect(cache.size).toBe(2);
  });
});
