// Prompt-lookup proposals (runtime/generation/prompt-lookup.ts): the continuation of the latest
// earlier match of the context's last n-gram, longest n first.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { proposeByLookup } from '../../runtime/generation/prompt-lookup.ts';

describe('proposeByLookup', () => {
  it('proposes what followed the last n-gram the previous time', () => {
    //                      a  b  c  d  e  a  b
    expect(proposeByLookup([1, 2, 3, 4, 5, 1, 2], 3, 3)).toEqual([3, 4, 5]);
    expect(proposeByLookup([1, 2, 3, 4, 5, 1, 2], 3, 10)).toEqual([3, 4, 5, 1, 2]);
  });

  it('prefers the longest n-gram, then the latest match', () => {
    // "2" alone last matched before 9; "1 2" matched before 3.
    expect(proposeByLookup([1, 2, 3, 7, 2, 9, 1, 2], 2, 1)).toEqual([3]);
    expect(proposeByLookup([1, 2, 3, 7, 2, 9, 1, 2], 1, 1)).toEqual([9]);
    expect(proposeByLookup([5, 1, 6, 5, 1, 7, 5, 1], 2, 1)).toEqual([7]);
  });

  it('proposes nothing without a match, for an empty count or a too short context', () => {
    expect(proposeByLookup([1, 2, 3, 4], 3, 4)).toEqual([]);
    expect(proposeByLookup([1, 2, 1], 3, 0)).toEqual([]);
    expect(proposeByLookup([1], 3, 4)).toEqual([]);
    expect(proposeByLookup([], 3, 4)).toEqual([]);
  });

  it('is total: proposals are at most count tokens, all from the context, following a real match', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 60 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 8 }), (context, n, count) => {
        const proposed = proposeByLookup(context, n, count);
        expect(proposed.length).toBeLessThanOrEqual(count);
        if (proposed.length === 0) return;
        // Somewhere earlier, the context's last token is followed by exactly the proposal.
        const last = context.at(-1);
        const found = context.some((t, i) => t === last && i < context.length - 1 && proposed.every((p, j) => context[i + 1 + j] === p));
        expect(found).toBe(true);
      }),
    );
  });
});
