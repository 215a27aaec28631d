// Logits processors: pure functions over one row of logits, composed per request in the order
// transformers and vLLM use (bias and penalties first, then temperature, then truncation).
// Every processor is total: for any parameters the edge admits and any row, it terminates and
// leaves no NaN and no +Infinity (values are clamped to the largest finite float32), so softmax
// and sampling downstream always see a well-defined distribution or an all-masked row.

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

/** Largest finite float32: what an overflowing logit is clamped to. */
export const MAX_LOGIT = 3.4028234663852886e38;

/** vLLM's sampling epsilon: temperatures below it are greedy (dividing by them overflows). */
export const MIN_TEMPERATURE = 1e-5;

/** A computed logit made safe to store: NaN becomes masked, overflow the largest finite value. */
export function clampLogit(x: number): number {
  if (Number.isNaN(x)) return -Infinity;
  if (x > MAX_LOGIT) return MAX_LOGIT;
  if (x < -MAX_LOGIT) return x === -Infinity ? x : -MAX_LOGIT;
  return x;
}

/**
 * Makes a raw model row safe in place (NaN masked, +Infinity clamped) and returns its argmax:
 * the greedy fallback when processors leave nothing (always a valid index, 0 for an empty mask).
 */
export function sanitizeRow(logits: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i] as number;
    const safe = x === x && x !== Infinity && x !== -Infinity && Math.abs(x) <= MAX_LOGIT ? x : clampLogit(x);
    if (safe !== x) logits[i] = safe;
    if (safe > bestValue) (bestValue = safe), (best = i);
  }
  return best;
}

/** True when no token is left (every entry -Infinity). */
export function allMasked(logits: Float32Array): boolean {
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > -Infinity) return false;
  return true;
}

export const logitBias = (bias: ReadonlyMap<number, number>): LogitsProcessor => (logits) => {
  for (const [id, value] of bias) if (id >= 0 && id < logits.length) logits[id] = clampLogit((logits[id] as number) + value);
};

/** transformers' repetition penalty: shrink seen tokens' logits towards (and past) zero. */
export const repetitionPenalty = (penalty: number): LogitsProcessor => (logits, { seen }) => {
  for (const id of seen) {
    const x = logits[id] as number;
    if (id >= 0 && id < logits.length) logits[id] = clampLogit(x > 0 ? x / penalty : x * penalty);
  }
};

/** OpenAI's frequency and presence penalties over generated tokens. */
export const frequencyPresencePenalty = (frequency: number, presence: number): LogitsProcessor => (logits, { generatedCounts }) => {
  for (const [id, count] of generatedCounts) {
    if (id >= 0 && id < logits.length) logits[id] = clampLogit((logits[id] as number) - count * frequency - (count > 0 ? presence : 0));
  }
};

export const temperature = (t: number): LogitsProcessor => (logits) => {
  for (let i = 0; i < logits.length; i++) logits[i] = clampLogit((logits[i] as number) / t);
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
  let max = 0;
  for (let i = 0; i < probs.length; i++) if ((probs[i] as number) > max) max = probs[i] as number;
  if (!(max > 0)) return; // an all-masked row has no nucleus; the caller falls back to greedy
  // Only tokens above a threshold can be in the nucleus once their mass reaches p: sort just those.
  // The threshold falls by 1e-4 a round and is 0 (every token) by the fourth, so this ends.
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
};

/** Drops tokens less likely than min_p times the most likely one. */
export const minP = (m: number): LogitsProcessor => (logits) => {
  const max = logits.reduce((a, x) => Math.max(a, x), -Infinity);
  if (max === -Infinity || m <= 0) return;
  const cutoff = max + Math.log(m); // p_i / p_max < m  <=>  logit_i < max + ln m
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) < cutoff) logits[i] = -Infinity;
};

/** The processors a request needs, in order; greedy (temperature below MIN_TEMPERATURE) skips the truncations. */
export function buildProcessors(p: SamplingParams): LogitsProcessor[] {
  const list: LogitsProcessor[] = [];
  if (p.logitBias.size > 0) list.push(logitBias(p.logitBias));
  if (p.repetitionPenalty !== 1) list.push(repetitionPenalty(p.repetitionPenalty));
  if (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) list.push(frequencyPresencePenalty(p.frequencyPenalty, p.presencePenalty));
  if (isGreedy(p)) return list;
  if (p.temperature !== 1) list.push(temperature(p.temperature));
  if (p.topK > 0) list.push(topK(p.topK));
  if (p.topP < 1) list.push(topP(p.topP));
  if (p.minP > 0) list.push(minP(p.minP));
  return list;
}

/** Temperature 0, or one so small that dividing by it would overflow: pick the most likely token. */
export const isGreedy = (p: Pick<SamplingParams, 'temperature'>) => !(p.temperature >= MIN_TEMPERATURE);

/** Probabilities of a row; an all-masked row gives all zeros (never NaN). */
export function softmax(logits: Float32Array): Float32Array {
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
