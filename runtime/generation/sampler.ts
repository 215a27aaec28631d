// Choosing the next token (greedy or seeded sampling) and reporting log-probabilities.
import { clampLogit, scanRow, type RowScan } from './logits-processors.ts';
import type { Rng } from './rng.ts';

export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > bestValue) (bestValue = logits[i] as number), (best = i);
  return best;
}

/**
 * Draws from softmax(logits) with the sequence's own generator (inverse CDF over indices in
 * order). Total: a row with no finite weight (all masked, or values no distribution can be made
 * of) gives its argmax.
 */
export function sample(logits: Float32Array, rng: Rng): number {
  return sampleRow(logits, scanRow(logits), rng);
}

let weightBuffer = new Float64Array(0);

/**
 * sample() given the row's scan (from scanRow, or from the truncations that left the row).
 * Masked entries weigh exactly 0, so a truncated row visits only its live entries; each weight
 * is computed once and the sum and the walk go in index order, as they always did.
 */
export function sampleRow(logits: Float32Array, row: RowScan, rng: Rng): number {
  const max = row.max;
  if (!Number.isFinite(max)) return argmax(logits);
  const list = row.entries;
  const size = list ? row.count : logits.length;
  if (weightBuffer.length < size) weightBuffer = new Float64Array(logits.length);
  const weights = weightBuffer;
  let sum = 0;
  for (let j = 0; j < size; j++) {
    const w = Math.exp((logits[list ? (list[j] as number) : j] as number) - max);
    weights[j] = w;
    sum += w;
  }
  if (!(sum > 0) || !Number.isFinite(sum)) return argmax(logits);
  let target = rng() * sum;
  let last = 0;
  for (let j = 0; j < size; j++) {
    const w = weights[j] as number;
    if (w === 0) continue;
    last = list ? (list[j] as number) : j;
    target -= w;
    if (target < 0) return last;
  }
  return last; // rounding left a sliver: the last possible token
}

export interface TokenLogprob {
  token: number;
  logprob: number;
}

/**
 * log p(token) under softmax(logits), and the `top` most likely alternatives. Total: values are
 * read as the processors store them (NaN masked, overflow clamped), and a row with no finite
 * value gives -Infinity for every token.
 */
export function logprobsOf(logits: Float32Array, token: number, top: number): { logprob: number; top: TokenLogprob[] } {
  const at = (i: number) => clampLogit(logits[i] as number);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, at(i));
  let sum = 0;
  if (max > -Infinity) for (let i = 0; i < logits.length; i++) sum += Math.exp(at(i) - max);
  const logZ = max > -Infinity ? max + Math.log(sum) : 0;
  const logprob = (i: number) => (max > -Infinity ? at(i) - logZ : -Infinity);
  const best: TokenLogprob[] = [];
  if (top > 0) {
    for (let i = 0; i < logits.length; i++) {
      const v = at(i);
      if (best.length < top || v > (best[best.length - 1] as TokenLogprob).logprob) {
        best.push({ token: i, logprob: v });
        best.sort((a, b) => b.logprob - a.logprob || a.token - b.token);
        if (best.length > top) best.pop();
      }
    }
  }
  return { logprob: token >= 0 && token < logits.length ? logprob(token) : -Infinity, top: best.map((b) => ({ token: b.token, logprob: logprob(b.token) })) };
}
