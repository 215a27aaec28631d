// Choosing the next token (greedy or seeded sampling) and reporting log-probabilities.
import type { Rng } from './rng.ts';

export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > bestValue) (bestValue = logits[i] as number), (best = i);
  return best;
}

/** Draws from softmax(logits) with the sequence's own generator (inverse CDF). */
export function sample(logits: Float32Array, rng: Rng): number {
  const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
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
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  const logZ = max + Math.log(sum);
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
