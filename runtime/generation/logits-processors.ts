// Logits processors: pure functions over one row of logits, composed per request in the order
// transformers and vLLM use (bias and penalties first, then temperature, then truncation).

export interface SamplingParams {
  /** 0 means greedy. */
  temperature: number;
  topP: number;
  /** 0 means off. */
  topK: number;
  minP: number;
  repetitionPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  logitBias: ReadonlyMap<number, number>;
}

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  repetitionPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  logitBias: new Map(),
};

/** What processors may read about the sequence so far. */
export interface SequenceView {
  /** Occurrences of each token among the generated ones (OpenAI penalties). */
  generatedCounts: ReadonlyMap<number, number>;
  /** Every token in prompt and output (repetition penalty, as transformers applies it). */
  seen: ReadonlySet<number>;
}

export type LogitsProcessor = (logits: Float32Array, sequence: SequenceView) => void;

export const logitBias = (bias: ReadonlyMap<number, number>): LogitsProcessor => (logits) => {
  for (const [id, value] of bias) if (id < logits.length) logits[id] = (logits[id] as number) + value;
};

/** transformers' repetition penalty: shrink seen tokens' logits towards (and past) zero. */
export const repetitionPenalty = (penalty: number): LogitsProcessor => (logits, { seen }) => {
  for (const id of seen) {
    const x = logits[id] as number;
    logits[id] = x > 0 ? x / penalty : x * penalty;
  }
};

/** OpenAI's frequency and presence penalties over generated tokens. */
export const frequencyPresencePenalty = (frequency: number, presence: number): LogitsProcessor => (logits, { generatedCounts }) => {
  for (const [id, count] of generatedCounts) logits[id] = (logits[id] as number) - count * frequency - (count > 0 ? presence : 0);
};

export const temperature = (t: number): LogitsProcessor => (logits) => {
  for (let i = 0; i < logits.length; i++) logits[i] = (logits[i] as number) / t;
};

/** Keeps the k largest logits (ties at the boundary kept). */
export const topK = (k: number): LogitsProcessor => (logits) => {
  if (k >= logits.length) return;
  const threshold = kthLargest(logits, k);
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) < threshold) logits[i] = -Infinity;
};

/** Keeps the smallest set of most likely tokens whose probability reaches p. */
export const topP = (p: number): LogitsProcessor => (logits) => {
  if (p >= 1) return;
  const probs = softmax(logits);
  const max = probs.reduce((m, x) => Math.max(m, x), 0);
  // Only tokens above a threshold can be in the nucleus once their mass reaches p: sort just those.
  let threshold = max * 1e-4;
  let candidates: number[] = [];
  for (;;) {
    candidates = [];
    let mass = 0;
    for (let i = 0; i < probs.length; i++) if ((probs[i] as number) >= threshold) candidates.push(i), (mass += probs[i] as number);
    if (mass >= p || threshold === 0) break;
    threshold = threshold < 1e-30 ? 0 : threshold * 1e-4;
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
};

/** Drops tokens less likely than min_p times the most likely one. */
export const minP = (m: number): LogitsProcessor => (logits) => {
  const max = logits.reduce((a, x) => Math.max(a, x), -Infinity);
  const cutoff = max + Math.log(m); // p_i / p_max < m  <=>  logit_i < max + ln m
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) < cutoff) logits[i] = -Infinity;
};

/** The processors a request needs, in order; temperature 0 (greedy) skips the truncations. */
export function buildProcessors(p: SamplingParams): LogitsProcessor[] {
  const list: LogitsProcessor[] = [];
  if (p.logitBias.size > 0) list.push(logitBias(p.logitBias));
  if (p.repetitionPenalty !== 1) list.push(repetitionPenalty(p.repetitionPenalty));
  if (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) list.push(frequencyPresencePenalty(p.frequencyPenalty, p.presencePenalty));
  if (p.temperature === 0) return list;
  if (p.temperature !== 1) list.push(temperature(p.temperature));
  if (p.topK > 0) list.push(topK(p.topK));
  if (p.topP < 1) list.push(topP(p.topP));
  if (p.minP > 0) list.push(minP(p.minP));
  return list;
}

export function softmax(logits: Float32Array): Float32Array {
  const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp((logits[i] as number) - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/** The k-th largest value (1-based) via a small sorted buffer: O(n log k). */
export function kthLargest(values: Float32Array, k: number): number {
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (top.length < k) {
      top.push(v);
      if (top.length === k) top.sort((a, b) => a - b);
    } else if (v > (top[0] as number)) {
      // Replace the smallest and restore order by one insertion pass.
      let j = 0;
      while (j + 1 < k && (top[j + 1] as number) < v) top[j] = top[j + 1] as number, j++;
      top[j] = v;
    }
  }
  if (top.length < k) top.sort((a, b) => a - b);
  return top[0] as number;
}
