// Choosing the next token (greedy or seeded sampling) and reporting log-probabilities.
import type { Rng } from './rng.ts';

export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > bestValue) (bestValue = logits[i] as number), (best = i);
  return best;
}

/**
 * Draws from softmax(logits) with the sequence's own generator (inverse CDF). Total: a row with
 * no finite weight (all masked, or values no distribution can be made of) gives its argmax.
 */
export function sample(logits: Float32Array, rng: Rng): number {
  const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
  if (!Number.isFinite(max)) return argmax(logits);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  if (!(sum > 0) || !Number.isFinite(sum)) return argmax(logits);
  let target = rng() * sum;
  let last = 0;
  for (let i = 0; i < logits.length; i++) {
    const w = Math.exp((logits[i] as number) - max);
    if (w === 0) continue;
    last = i;
    target -= w;
    if (target < 0) return i;
  }
  return last; // rounding left a sliver: the last possible token
}

export interface TokenLogprob {
  token: number;
  logprob: number;
}

/** log p(token) under softmax(logits), and the `top` most likely alternatives. */
export function logprobsOf(logits: Float32Array, token: number, top: number): { logprob: number; top: TokenLogprob[] } {
  const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
  let sum = 0;
  if (Number.isFinite(max)) for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  // A row without a finite maximum has no distribution: every token reads as impossible.
  const logZ = Number.isFinite(max) ? max + Math.log(sum) : Infinity;
  const best: TokenLogprob[] = [];
  if (top > 0) {
    for (let i = 0; i < logits.length; i++) {
      const v = logits[i] as number;
      if (best.length < top || v > (best[best.length - 1] as TokenLogprob).logprob) {
        best.push({ token: i, logprob: v });
        best.sort((a, b) => b.logprob - a.logprob || a.token - b.token);
        if (best.length > top) best.pop();
      }
    }
  }
  return { logprob: (logits[token] as number) - logZ, top: best.map((b) => ({ token: b.token, logprob: b.logprob - logZ })) };
}
