// What beam search reads from a beam's logits: the penalties and logit bias the request asked for
// (as transformers applies its logits processors in beam search; no temperature or truncation,
// which only shape sampling), then log-softmax. Total: NaN and overflow are cleaned first.
import { buildPenalties, sanitizeRow, type SamplingParams } from './logits-processors.ts';

/** Scores a beam's logits row in place (it becomes log-probabilities) given the beam's tokens. */
export function createBeamScorer(sampling: SamplingParams, prompt: readonly number[]): (logits: Float32Array, tokens: readonly number[]) => Float32Array {
  const penalties = buildPenalties(sampling);
  return (logits, tokens) => {
    sanitizeRow(logits);
    if (penalties.length > 0) {
      const generatedCounts = new Map<number, number>();
      for (const t of tokens) generatedCounts.set(t, (generatedCounts.get(t) ?? 0) + 1);
      const view = { generated: tokens, generatedCounts, seen: new Set([...prompt, ...tokens]) };
      for (const process of penalties) process(logits, view);
    }
    return logSoftmax(logits);
  };
}

/** In place; a row with nothing finite left stays all -Infinity. */
export function logSoftmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > max) max = logits[i] as number;
  if (max === -Infinity) return logits;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  const shift = max + Math.log(sum);
  for (let i = 0; i < logits.length; i++) logits[i] = (logits[i] as number) - shift;
  return logits;
}
