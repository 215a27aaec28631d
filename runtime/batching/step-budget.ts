// Chunked prefill's budget: each engine step runs at most `budget` tokens. Running sequences
// decode first (one token each, more when they verify speculated tokens); prompts waiting to be
// prefilled share what is left, oldest first, so a long prompt is fed a chunk per step and never
// stalls the streams. The first prompt always gets at least `floor` tokens, so prefill progresses
// even when decoding alone fills the budget.
//
// The budget weighs the streams it protects against the prompts it delays: max_step_tokens while
// the flowing streams outnumber the waiting prompts, growing with the waiting ones' share
// (several prompts arriving behind one stream do not each wait out a chain of small chunks), and
// unbounded with no stream flowing. A stream flows once it has FLOWING_AFTER tokens: sequences
// that have only just started (a burst arriving together, the first of it admitted a step ahead)
// do not hold the rest of the burst to small chunks — their own first token waited as long.

export interface StepBudget {
  /** Most tokens one step runs (max_step_tokens). */
  budget: number;
  /** Tokens the oldest waiting prompt gets even when decoding fills the budget. */
  floor: number;
}

/**
 * Tokens granted to each prompt of `remaining` (prompt tokens still to feed, oldest first) in a
 * step that also decodes `decodeTokens` tokens. A grant below a prompt's remaining is a chunk; 0
 * means it waits for a later step.
 */
export function grantPrefill({ budget, floor }: StepBudget, decodeTokens: number, remaining: readonly number[]): number[] {
  let left = Math.max(0, budget - decodeTokens);
  return remaining.map((want, i) => {
    const grant = Math.min(want, i === 0 ? Math.max(left, floor) : left);
    left = Math.max(0, left - grant);
    return grant;
  });
}

/** Tokens a decoding sequence has generated before its stream counts as flowing. */
export const FLOWING_AFTER = 8;

/** This step's token budget: max_step_tokens x max(1, waiting prompts / flowing streams). */
export function stepBudget(maxStepTokens: number, flowing: number, waitingPrompts: number): number {
  if (flowing === 0) return Infinity;
  return maxStepTokens * Math.max(1, waitingPrompts / flowing);
}
