// The sampling pieces as they were before the fast path (full sort of the top-p candidates, a Set),
// kept unchanged as the reference the equivalence tests and bench:sampling compare against.
import {
  allMasked,
  clampLogit,
  frequencyPresencePenalty,
  isGreedy,
  logitBias,
  repetitionPenalty,
  sanitizeRow,
  type SamplingParams,
  type SequenceView,
} from '../../runtime/generation/logits-processors.ts';
import type { Rng } from '../../runtime/generation/rng.ts';

export const before = {
  temperature: (t: number) => (logits: Float32Array) => {
    for (let i = 0; i < logits.length; i++) logits[i] = clampLogit((logits[i] as number) / t);
  },
  kthLargest(values: Float32Array, k: number): number {
    const top: number[] = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (top.length < k) {
        top.push(v);
        if (top.length === k) top.sort((a, b) => a - b);
      } else if (v > (top[0] as number)) {
        let j = 0;
        while (j + 1 < k && (top[j + 1] as number) < v) (top[j] = top[j + 1] as number), j++;
        top[j] = v;
      }
    }
    if (top.length < k) top.sort((a, b) => a - b);
    return top[0] as number;
  },
  topK: (k: number) => (logits: Float32Array) => {
    if (k >= logits.length) return;
    const threshold = before.kthLargest(logits, k);
    for (let i = 0; i < logits.length; i++) if ((logits[i] as number) < threshold) logits[i] = -Infinity;
  },
  softmax(logits: Float32Array): Float32Array {
    const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
    const out = new Float32Array(logits.length);
    let sum = 0;
    for (let i = 0; i < logits.length; i++) {
      const e = Math.exp((logits[i] as number) - max);
      out[i] = e;
      sum += e;
    }
    if (!(sum > 0) || !Number.isFinite(sum)) return new Float32Array(logits.length);
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
    return out;
  },
  topP: (p: number) => (logits: Float32Array) => {
    if (p >= 1) return;
    const probs = before.softmax(logits);
    let max = 0;
    for (let i = 0; i < probs.length; i++) if ((probs[i] as number) > max) max = probs[i] as number;
    if (!(max > 0)) return;
    let threshold = max * 1e-4;
    let candidates: number[] = [];
    for (let round = 0; ; round++) {
      candidates = [];
      let mass = 0;
      for (let i = 0; i < probs.length; i++) if ((probs[i] as number) >= threshold && (probs[i] as number) > 0) candidates.push(i), (mass += probs[i] as number);
      if (mass >= p || threshold === 0) break;
      threshold = round >= 3 ? 0 : threshold * 1e-4;
    }
    candidates.sort((a, b) => (probs[b] as number) - (probs[a] as number) || a - b);
    const keep = new Set<number>();
    let cumulative = 0;
    for (const id of candidates) {
      keep.add(id);
      cumulative += probs[id] as number;
      if (cumulative >= p) break;
    }
    for (let i = 0; i < logits.length; i++) if (!keep.has(i)) logits[i] = -Infinity;
  },
  minP: (m: number) => (logits: Float32Array) => {
    const max = logits.reduce((a, x) => Math.max(a, x), -Infinity);
    if (max === -Infinity || m <= 0) return;
    const cutoff = max + Math.log(m);
    for (let i = 0; i < logits.length; i++) if ((logits[i] as number) < cutoff) logits[i] = -Infinity;
  },
  argmax(logits: Float32Array): number {
    let best = 0;
    let bestValue = -Infinity;
    for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > bestValue) (bestValue = logits[i] as number), (best = i);
    return best;
  },
  sample(logits: Float32Array, rng: Rng): number {
    const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
    if (!Number.isFinite(max)) return before.argmax(logits);
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
    if (!(sum > 0) || !Number.isFinite(sum)) return before.argmax(logits);
    let target = rng() * sum;
    let last = 0;
    for (let i = 0; i < logits.length; i++) {
      const w = Math.exp((logits[i] as number) - max);
      if (w === 0) continue;
      last = i;
      target -= w;
      if (target < 0) return i;
    }
    return last;
  },
  /** buildProcessors as it was: the (unchanged) penalties, then the truncations. */
  processors(p: SamplingParams): ((logits: Float32Array, view: SequenceView) => void)[] {
    const list: ((logits: Float32Array, view: SequenceView) => void)[] = [];
    if (p.logitBias.size > 0) list.push(logitBias(p.logitBias));
    if (p.repetitionPenalty !== 1) list.push(repetitionPenalty(p.repetitionPenalty));
    if (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) list.push(frequencyPresencePenalty(p.frequencyPenalty, p.presencePenalty));
    return [...list, ...before.truncations(p)];
  },
  /** One sequence step as it was: sanitize, process, fall back on an all-masked row, pick. */
  step(logits: Float32Array, p: SamplingParams, view: SequenceView, rng: Rng): number {
    const fallback = sanitizeRow(logits);
    const processors = before.processors(p);
    for (const process of processors) process(logits, view);
    return processors.length > 0 && allMasked(logits) ? fallback : isGreedy(p) ? before.argmax(logits) : before.sample(logits, rng);
  },
  /** The truncation part of buildProcessors, in its order. */
  truncations(p: Pick<SamplingParams, 'temperature' | 'topK' | 'topP' | 'minP'>): ((logits: Float32Array) => void)[] {
    const list: ((logits: Float32Array) => void)[] = [];
    if (!(p.temperature >= 1e-5)) return list;
    if (p.temperature !== 1) list.push(before.temperature(p.temperature));
    if (p.topK > 0) list.push(before.topK(p.topK));
    if (p.topP < 1) list.push(before.topP(p.topP));
    if (p.minP > 0) list.push(before.minP(p.minP));
    return list;
  },
};
