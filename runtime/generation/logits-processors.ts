// Logits processors: pure functions over one row of logits, composed per request in the order
// transformers and vLLM use (bias and penalties first, then temperature, then truncation).
// Every processor is total: for any parameters the edge admits and any row, it terminates and
// leaves no NaN and no +Infinity (values are clamped to the largest finite float32), so softmax
// and sampling downstream always see a well-defined distribution or an all-masked row.
// The truncations run in a few linear passes over the row with reused buffers, and keep exactly
// the tokens the sorting implementation kept (test/generation/sampling-speed-equivalence.test.ts).

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
  /** The tokens generated so far, in order (a grammar constraint follows them). */
  generated: readonly number[];
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
  for (let i = 0; i < logits.length; i++) logits[i] = scaled(logits[i] as number, t);
};

/** Keeps the k largest logits (ties at the boundary kept). */
export const topK = (k: number): LogitsProcessor => (logits) => {
  if (k < logits.length) keepTopK(logits, k);
};

/**
 * Keeps the smallest set of most likely tokens whose probability reaches p: with float32
 * probabilities summed from the most likely down, ties broken by lower index.
 */
export const topP = (p: number): LogitsProcessor => (logits) => {
  if (p >= 1) return; // (a NaN p runs, and keeps every token with a probability, as it always did)
  const row = scanRow(logits);
  // NaN, +Infinity or nothing finite: softmax is all zeros and there is no nucleus to keep.
  if (Number.isFinite(row.max) && nucleusByBounds(logits, p, row) === 0) nucleusBySort(logits, p);
};

/** Drops tokens less likely than min_p times the most likely one. */
export const minP = (m: number): LogitsProcessor => (logits) => {
  if (m > 0) keepLikely(logits, m, scanRow(logits)); // m <= 0 keeps everything; so does NaN, whose cutoff compares false
};

/** The bias and penalty processors a request needs, in order: the ones that run before the truncations. */
export function buildPenalties(p: SamplingParams): LogitsProcessor[] {
  const list: LogitsProcessor[] = [];
  if (p.logitBias.size > 0) list.push(logitBias(p.logitBias));
  if (p.repetitionPenalty !== 1) list.push(repetitionPenalty(p.repetitionPenalty));
  if (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) list.push(frequencyPresencePenalty(p.frequencyPenalty, p.presencePenalty));
  return list;
}

/** The processors a request needs, in order; greedy (temperature below MIN_TEMPERATURE) skips the truncations. */
export function buildProcessors(p: SamplingParams): LogitsProcessor[] {
  const list = buildPenalties(p);
  if (isGreedy(p)) return list;
  if (p.temperature !== 1) list.push(temperature(p.temperature));
  if (p.topK > 0) list.push(topK(p.topK));
  if (p.topP < 1) list.push(topP(p.topP));
  if (p.minP > 0) list.push(minP(p.minP));
  return list;
}

/**
 * The truncation processors of a sampled request (temperature, top-k, top-p, min-p) as one step:
 * the same row they leave, plus its scan, passed from each to the next instead of each pass
 * re-reading the row to find its maximum and live entries.
 */
export function buildTruncation(p: SamplingParams): (logits: Float32Array) => RowScan {
  const { temperature: t, topK: k, topP: top, minP: m } = p;
  return (logits) => {
    let row = scanRow(logits, t);
    if (k > 0 && k < logits.length) row = keepTopK(logits, k);
    if (top < 1) row = keepNucleus(logits, top, row);
    if (m > 0) row = keepLikely(logits, m, row);
    return row;
  };
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

// ---------------------------------------------------------------------------------------------
// The hot path. Buffers live at module level and grow to the largest row seen, so a step
// allocates nothing; every function below is done with them before it returns, except the
// entries of the RowScan it returns, which stay valid until the next call.

/** What is known about a row after a pass over it. One shared object: read it before the next call. */
export interface RowScan {
  /** The largest entry; NaN if the row holds a NaN. */
  max: number;
  /** How many entries are above -Infinity, when `entries` lists them. */
  count: number;
  /** Their indices in order, when they are at most a quarter of the row (a truncated row); else undefined. */
  entries: Int32Array | undefined;
}

const scanned: RowScan = { max: -Infinity, count: 0, entries: undefined };
let entryBuffer = new Int32Array(0);

const found = (max: number, count: number, entries: Int32Array | undefined): RowScan => {
  scanned.max = max;
  scanned.count = count;
  scanned.entries = entries;
  return scanned;
};

/** x / t as the row stores it: clamped as clampLogit does, rounded to float32. */
const scaled = (x: number, t: number) => {
  const y = x / t;
  return Math.fround(y <= MAX_LOGIT && y >= -MAX_LOGIT ? y : clampLogit(y));
};

/**
 * Finds a row's maximum and, for a mostly masked row, where its live entries are. With `divideBy`
 * (a temperature) it first divides each entry in place, in the same pass.
 */
export function scanRow(logits: Float32Array, divideBy?: number): RowScan {
  const n = logits.length;
  const cap = n >>> 2;
  if (entryBuffer.length < cap) entryBuffer = new Int32Array(cap);
  const entries = entryBuffer;
  const divide = divideBy !== undefined && divideBy !== 1;
  let max = -Infinity;
  let count = 0;
  let i = 0;
  for (; i < n; i++) {
    let x = logits[i] as number;
    if (divide) logits[i] = x = scaled(x, divideBy);
    if (x > -Infinity) {
      if (x > max) max = x;
      if (count === cap) break;
      entries[count++] = i;
    } else if (x !== x) return found(NaN, 0, undefined);
  }
  if (i === n) return found(max, count, entries);
  // Dense: the rest is divided if asked, and only its maximum (and a NaN) matter.
  for (i++; i < n; i++) {
    let x = logits[i] as number;
    if (divide) logits[i] = x = scaled(x, divideBy);
    if (x > max) max = x;
    else if (x !== x) return found(NaN, 0, undefined);
  }
  return found(max, 0, undefined);
}

/** Top-k for k < length; the scan of the result. */
function keepTopK(logits: Float32Array, k: number): RowScan {
  if (Number.isInteger(k) && k >= 1) {
    const row = keepLargest(logits, k);
    if (row) return row;
  }
  // A row holding NaN, or a k that is not a count, gets the threshold it always got.
  const threshold = kthLargest(logits, k);
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) < threshold) logits[i] = -Infinity;
  return scanRow(logits);
}

let heapBuffer = new Float64Array(0);
let candidateBuffer = new Int32Array(0);
let candidateValueBuffer = new Float32Array(0);

/**
 * Masks every value below the k-th largest (1 <= k < length) and scans the result, or returns
 * undefined (the row untouched) if it holds a NaN. One pass keeps a min-heap of the k largest so
 * far and remembers the tokens not below its minimum then; every other token is below the final
 * k-th largest. The row is then masked whole and the kept values put back.
 */
function keepLargest(values: Float32Array, k: number): RowScan | undefined {
  const n = values.length;
  if (heapBuffer.length < k) heapBuffer = new Float64Array(k);
  if (candidateBuffer.length < n) (candidateBuffer = new Int32Array(n)), (candidateValueBuffer = new Float32Array(n));
  const heap = heapBuffer;
  const candidates = candidateBuffer;
  for (let i = 0; i < k; i++) {
    const v = values[i] as number;
    if (v !== v) return undefined;
    heap[i] = v;
    candidates[i] = i;
  }
  let count = k;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(heap, k, i);
  let smallest = heap[0] as number;
  for (let i = k; i < n; i++) {
    const v = values[i] as number;
    if (v >= smallest) {
      candidates[count++] = i;
      if (v > smallest) {
        heap[0] = v;
        siftDown(heap, k, 0);
        smallest = heap[0] as number;
      }
    } else if (v !== v) return undefined;
  }
  const keptValues = candidateValueBuffer;
  let kept = 0;
  let max = -Infinity;
  for (let t = 0; t < count; t++) {
    const i = candidates[t] as number;
    const v = values[i] as number;
    if (v >= smallest) {
      candidates[kept] = i;
      keptValues[kept++] = v;
      if (v > max) max = v;
    }
  }
  values.fill(-Infinity);
  let live = 0;
  for (let t = 0; t < kept; t++) {
    const i = candidates[t] as number;
    const v = keptValues[t] as number;
    values[i] = v;
    if (v > -Infinity) candidates[live++] = i;
  }
  return found(max, live, live <= n >>> 2 ? candidates : undefined);
}

/** Restores the min-heap property below `at`. */
function siftDown(heap: Float64Array, size: number, at: number): void {
  const v = heap[at] as number;
  let i = at;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && (heap[child + 1] as number) < (heap[child] as number)) child++;
    if ((heap[child] as number) >= v) break;
    heap[i] = heap[child] as number;
    i = child;
  }
  heap[i] = v;
}

/** Min-p for m > 0, given the row's scan; the scan of the result. */
function keepLikely(logits: Float32Array, m: number, row: RowScan): RowScan {
  if (row.max === -Infinity || Number.isNaN(row.max)) return row;
  const cutoff = row.max + Math.log(m); // p_i / p_max < m  <=>  logit_i < max + ln m
  const list = row.entries;
  let max = -Infinity;
  if (list) {
    let kept = 0;
    for (let j = 0; j < row.count; j++) {
      const i = list[j] as number;
      const x = logits[i] as number;
      if (x < cutoff) logits[i] = -Infinity;
      else {
        list[kept++] = i;
        if (x > max) max = x;
      }
    }
    return found(max, kept, list);
  }
  const n = logits.length;
  const cap = n >>> 2;
  if (entryBuffer.length < cap) entryBuffer = new Int32Array(cap);
  const entries = entryBuffer;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const x = logits[i] as number;
    if (x < cutoff) logits[i] = -Infinity;
    else if (x > -Infinity) {
      if (count < cap) entries[count] = i;
      count++;
      if (x > max) max = x;
    }
  }
  return found(max, count, count <= cap ? entries : undefined);
}

/**
 * Top-p for p < 1, given the row's scan; the scan of the result. The nucleus is found from
 * bounds on the probabilities (no sort of the vocabulary); a row the bounds cannot settle is
 * sorted exactly as it always was.
 */
function keepNucleus(logits: Float32Array, p: number, row: RowScan): RowScan {
  if (!Number.isFinite(row.max)) return row;
  const max = row.max;
  const kept = nucleusByBounds(logits, p, row);
  if (kept === 0) {
    nucleusBySort(logits, p);
    return scanRow(logits);
  }
  // The maximum is kept (its token comes first in the order), and every kept q is above 0.
  if (kept > logits.length >>> 2) return found(max, 0, undefined);
  return found(max, kept, sortIndices(keptIndexBuffer, kept, logits.length));
}

let radixBuffer = new Int32Array(0);
const radixStarts = new Int32Array(256);

/** Sorts the first `count` values (all below `bound`) ascending in place: a radix sort, a byte a pass. */
function sortIndices(values: Int32Array, count: number, bound: number): Int32Array {
  if (radixBuffer.length < count) radixBuffer = new Int32Array(values.length);
  const bits = 32 - Math.clz32(Math.max(1, bound - 1));
  let from: Int32Array = values;
  let to: Int32Array = radixBuffer;
  for (let shift = 0; shift < bits; shift += 8) {
    radixStarts.fill(0);
    for (let t = 0; t < count; t++) {
      const digit = ((from[t] as number) >>> shift) & 255;
      radixStarts[digit] = (radixStarts[digit] as number) + 1;
    }
    for (let digit = 0, start = 0; digit < 256; digit++) {
      const size = radixStarts[digit] as number;
      radixStarts[digit] = start;
      start += size;
    }
    for (let t = 0; t < count; t++) {
      const v = from[t] as number;
      const digit = (v >>> shift) & 255;
      to[radixStarts[digit] as number] = v;
      radixStarts[digit] = (radixStarts[digit] as number) + 1;
    }
    const filled = to;
    to = from;
    from = filled;
  }
  if (from !== values) values.set(from.subarray(0, count));
  return values.subarray(0, count);
}

const EXP_STEPS = 64;
/** 2^(-j/64), and exact powers 2^-q: the table factors of expApprox. */
const EXP_FRACTIONS = Float64Array.from({ length: EXP_STEPS }, (_, j) => 2 ** (-j / EXP_STEPS));
const EXP_POWERS = new Float64Array(128).map((_, q) => 1 / 2 ** q);
const STEPS_PER_NAT = EXP_STEPS / Math.LN2;
const NATS_PER_STEP = Math.LN2 / EXP_STEPS;

/**
 * A bound on |expApprox(d) / e^d - 1| over (-63, 0]: the cubic's remainder, r^4/24 e^|r| for
 * |r| <= ln2/128 (3.6e-11), plus rounding (under 1e-14), with room to spare.
 */
export const EXP_APPROX_ERROR = 1e-10;

/** e^d for -63 < d <= 0 to within EXP_APPROX_ERROR: 2^(-m/64) from two tables times a cubic in the remainder. */
export function expApprox(d: number): number {
  return expInSteps(d, stepsBelow(d));
}

/** m = round(-d / (ln2/64)), the whole 64ths of an octave below 0 (monotone in d). */
const stepsBelow = (d: number) => (-d * STEPS_PER_NAT + 0.5) | 0;

/** e^d from m = stepsBelow(d): 2^(-m/64) e^r with |r| <= ln2/128. */
function expInSteps(d: number, m: number): number {
  const r = d + m * NATS_PER_STEP;
  return (EXP_POWERS[m >> 6] as number) * (EXP_FRACTIONS[m & 63] as number) * (1 + r * (1 + r * (0.5 + r * (1 / 6))));
}

/**
 * Tokens are bucketed by m = stepsBelow(d), d = logit - max: buckets are ln2/64 apart (a factor
 * of 1.1%), and a larger d never lands in a later bucket.
 */
const DEEPEST = -63;
/** Below DEEPEST a token weighs under e^-63 (4.4e-28) and joins no bucket. */
const BUCKETS = stepsBelow(DEEPEST) + 2;
const ROUNDOFF = 2 ** -53;
/** Relative error of expApprox against Math.exp (itself within an ulp of e^d), with room for the products that apply it. */
const WEIGHT_SLACK = 2 * (EXP_APPROX_ERROR + 1e-15);
const bucketMass = new Float64Array(BUCKETS);
/** Each bucket's tokens as a linked list: first index (-1 for none), then the next one per token. */
const bucketFirst = new Int32Array(BUCKETS);
let bucketNext = new Int32Array(0);
let keptIndexBuffer = new Int32Array(0);
let keptValueBuffer = new Float32Array(0);
let lowBuffer = new Float64Array(0);
let highBuffer = new Float64Array(0);

/**
 * nucleusBySort's answer without sorting the vocabulary: returns how many tokens it kept (their
 * indices first in keptIndexBuffer, in no order), or 0, the row untouched, when it cannot be sure.
 *
 * The sort keeps the first k tokens in the order (q desc, index asc), q_i = fround(fround(e_i) / S),
 * e_i = Math.exp(x_i - max) and S their float64 sum in index order, k the first count whose
 * float64 running sum of q reaches p. Here S is bracketed from an approximate exponential (every
 * rounding bounded), which brackets every q; the running sum is found in buckets of d, the tokens
 * above the crossing bucket taken whole and the ones in it (and the next) ordered. The answer is
 * used only when the brackets prove it is the sort's: the sum reaches p at k and not before, with
 * room for float64 reordering error; the k kept tokens outrank every other one in the sort's
 * order; and each is a candidate in the round of its threshold pre-filter that keeps them.
 */
export function nucleusByBounds(logits: Float32Array, p: number, row: RowScan): number {
  const max = row.max;
  const n = logits.length;
  const mass = bucketRow(logits, row);
  const goal = p * mass;
  let edge = 0;
  for (let run = 0; edge < BUCKETS; edge++) if ((run += bucketMass[edge] as number) >= goal) break;
  if (edge > BUCKETS - 3) return 0; // the nucleus reaches the tail: leave it to the sort

  // S within [sumLow, sumHigh]: the weights' error, float64 summation error in both sums (n u
  // each), and the unbucketed tail (at most n e^-63).
  const slack = 2 * (EXP_APPROX_ERROR + 1e-15 + 2.03 * n * ROUNDOFF);
  const sumLow = mass * (1 - slack);
  const sumHigh = mass * (1 + slack) + n * 1e-27;

  // Tokens in buckets above the edge, all kept if any answer is: bounds on q and on their sums.
  if (keptIndexBuffer.length < n) (keptIndexBuffer = new Int32Array(n)), (keptValueBuffer = new Float32Array(n));
  const keptIndex = keptIndexBuffer;
  let above = 0;
  let aboveLow = 0;
  let aboveHigh = 0;
  let aboveMinLow = Infinity;
  let maxHigh = 0;
  for (let bucket = 0; bucket < edge; bucket++) {
    for (let i = bucketFirst[bucket] as number; i >= 0; i = bucketNext[i] as number) {
      const w = expApprox((logits[i] as number) - max);
      const low = Math.fround(Math.fround(w * (1 - WEIGHT_SLACK)) / sumHigh);
      const high = Math.fround(Math.fround(w * (1 + WEIGHT_SLACK)) / sumLow);
      keptIndex[above++] = i;
      aboveLow += low;
      aboveHigh += high;
      if (low < aboveMinLow) aboveMinLow = low;
      if (high > maxHigh) maxHigh = high;
    }
  }
  // Tokens in the edge bucket and the next, in the sort's order wherever their q differ: larger
  // logit first, lower index among equal logits. Their e are exact.
  let listedCount = 0;
  for (let bucket = edge; bucket <= edge + 1; bucket++) {
    for (let i = bucketFirst[bucket] as number; i >= 0; i = bucketNext[i] as number) keptIndex[above + listedCount++] = i;
  }
  const order = keptIndex.subarray(above, above + listedCount).sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
  if (lowBuffer.length < listedCount) (lowBuffer = new Float64Array(n)), (highBuffer = new Float64Array(n));
  const lows = lowBuffer;
  const highs = highBuffer;
  for (let t = 0; t < listedCount; t++) {
    const e = Math.fround(Math.exp((logits[order[t] as number] as number) - max));
    lows[t] = Math.fround(e / sumHigh);
    highs[t] = Math.fround(e / sumLow);
    if ((highs[t] as number) > maxHigh) maxHigh = highs[t] as number;
  }
  // Every token two or more buckets down has -d >= (edge + 1.5) ln2/64 (less rounding), or is in
  // the tail below DEEPEST: q at most farHigh.
  const farWeight = Math.exp(Math.max(-(edge + 1.49) * NATS_PER_STEP, DEEPEST)) * (1 + 1e-12);
  const farHigh = Math.fround(Math.fround(farWeight) / sumLow);
  if (farHigh > maxHigh) maxHigh = farHigh;

  // The first count whose lower running sum surely reaches p, allowing for the sort's summation order.
  let low = aboveLow;
  let high = aboveHigh;
  let minLow = aboveMinLow;
  let minHigh = Infinity;
  let last = -1;
  for (let t = 0; t < listedCount; t++) {
    low += lows[t] as number;
    high += highs[t] as number;
    if ((lows[t] as number) < minLow) minLow = lows[t] as number;
    if ((highs[t] as number) < minHigh) minHigh = highs[t] as number;
    if (low * (1 - (4 * (above + t + 1) + 8) * ROUNDOFF) >= p) {
      last = t;
      break;
    }
  }
  if (last < 0) return 0;
  const kept = above + last + 1;
  const eta = (4 * kept + 8) * ROUNDOFF;
  // Without the smallest kept q the sum stays below p, so the sort does not stop earlier.
  if (kept > 1 && !((high * (1 + eta) - minLow) * (1 + eta) < p)) return 0;

  // The kept tokens outrank the rest: strictly larger q, except within the group of equal logits
  // the boundary falls in, which the sort orders by index as here.
  const boundaryLogit = logits[order[last] as number] as number;
  let groupStart = last;
  while (groupStart > 0 && logits[order[groupStart - 1] as number] === boundaryLogit) groupStart--;
  let groupEnd = last + 1;
  while (groupEnd < listedCount && logits[order[groupEnd] as number] === boundaryLogit) groupEnd++;
  let outrankLow = aboveMinLow;
  for (let t = 0; t < groupStart; t++) if ((lows[t] as number) < outrankLow) outrankLow = lows[t] as number;
  let outrankedHigh = farHigh;
  for (let t = groupEnd; t < listedCount; t++) if ((highs[t] as number) > outrankedHigh) outrankedHigh = highs[t] as number;
  if (!(outrankLow > (highs[groupStart] as number)) || !((lows[groupStart] as number) > outrankedHigh)) return 0;

  if (!candidatesInSomeRound(minLow, minHigh, Math.fround(1 / sumHigh), maxHigh, kept)) return 0;

  // Mask everything, then put the kept values back.
  const keptValue = keptValueBuffer;
  for (let t = 0; t < kept; t++) keptValue[t] = logits[keptIndex[t] as number] as number;
  logits.fill(-Infinity);
  for (let t = 0; t < kept; t++) logits[keptIndex[t] as number] = keptValue[t] as number;
  return kept;
}

/** Fills bucketMass with approximate weights e^d and links each token into its bucket's list; returns the total weight. */
function bucketRow(logits: Float32Array, row: RowScan): number {
  const max = row.max;
  const list = row.entries;
  const size = list ? row.count : logits.length;
  if (bucketNext.length < logits.length) bucketNext = new Int32Array(logits.length);
  const next = bucketNext;
  bucketMass.fill(0);
  bucketFirst.fill(-1);
  let mass = 0;
  for (let j = 0; j < size; j++) {
    const i = list ? (list[j] as number) : j;
    const d = (logits[i] as number) - max;
    if (d > DEEPEST) {
      const bucket = stepsBelow(d);
      const w = expInSteps(d, bucket);
      mass += w;
      bucketMass[bucket] = (bucketMass[bucket] as number) + w;
      next[i] = bucketFirst[bucket] as number;
      bucketFirst[bucket] = i;
    }
  }
  return mass;
}

/**
 * True when the sort's threshold rounds (max * 1e-4, then 1e-4 of that three times, then 0) reach
 * one whose candidates include every kept token (the candidates are a prefix of the order, so the
 * sorted prefix and its running sums are the same), having left every earlier round: there some
 * kept token is surely below the threshold, so the candidates' mass is below p.
 */
function candidatesInSomeRound(minLow: number, minHigh: number, maxLow: number, maxHigh: number, kept: number): boolean {
  let thresholdLow = maxLow * 1e-4;
  let thresholdHigh = maxHigh * 1e-4;
  for (let round = 0; ; round++) {
    if (minLow > 0 && minLow >= thresholdHigh) return true;
    if (kept === 1 || !(minHigh < thresholdLow)) return false;
    thresholdLow = round >= 3 ? 0 : thresholdLow * 1e-4;
    thresholdHigh = round >= 3 ? 0 : thresholdHigh * 1e-4;
  }
}

/** Top-p as it always ran (softmax, threshold pre-filter, sort, running sum): for the rows the bounds leave open. */
export function nucleusBySort(logits: Float32Array, p: number): void {
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
  const keep = new Uint8Array(logits.length);
  let cumulative = 0;
  for (const id of candidates) {
    keep[id] = 1;
    cumulative += probs[id] as number;
    if (cumulative >= p) break;
  }
  for (let i = 0; i < logits.length; i++) if (keep[i] === 0) logits[i] = -Infinity;
}
