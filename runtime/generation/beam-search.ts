// Beam search as OpenVINO Model Server / openvino.genai offer it (`use_beam_search: true`,
// `best_of` beams, `n` returned, `length_penalty`, `early_stopping`), with the semantics of
// Hugging Face transformers' beam search (one beam group, no diversity penalty).
//
// The module knows no model and no tensors. The caller (a scheduler) runs the model once per
// live beam, hands over one log-probability row per beam, and is told which beams continue with
// which token, so it can reorder and fork its KV-cache rows.
//
// One step, over the live beams (at first ONE empty beam, as every beam shares the prompt):
//  1. Candidates are (beam, token) pairs ranked by beam logprob + token logprob, best first; ties
//     go to the likelier token (this only matters for a beam at -Infinity, whose sums all tie),
//     then the lower beam index, then the lower token id. The top K are kept, K = 2 * width as in
//     HF (HF's current code widens this to (1 + number of EOS ids) * width when there are several
//     EOS ids, so that at least `width` candidates are not EOS; so does this module).
//  2. Walking the candidates in rank order: one whose token is an EOS id becomes a finished
//     hypothesis (finish 'stop') if its rank is below `width`, and is dropped otherwise; any
//     other candidate becomes a live beam, until there are `width` of them.
//  3. Finished hypotheses are kept best-`width` by score = logprob / length ** lengthPenalty.
//     LENGTH: the number of generated tokens INCLUDING the EOS token that ended the hypothesis.
//     openvino.genai (what OVMS runs) counts it ("HF counts EOS token in generation length") and
//     so does transformers' current vectorised beam search (cur_len + 1); transformers 4.36-4.49
//     (BeamSearchScorer with generated_len) excluded it. Counting it also makes width 1 exactly
//     greedy decoding: the EOS hypothesis and the beam that would go on share one length.
//  4. Done rules, checked after the step once `width` hypotheses are kept:
//     - earlyStopping true: done.
//     - earlyStopping false (HF's heuristic): done when the worst kept score >= the best live
//       beam's logprob / (its generated length, this step's token included) ** lengthPenalty,
//       as transformers' `_check_early_stop_heuristic` computes after a step.
//     When done this way the live beams are dropped (HF's finalize skips a finished batch).
//     Also done when no candidate could be kept as a live beam.
//  5. Otherwise, once the live beams hold `maxTokens` tokens they become hypotheses with finish
//     'length' (HF's / openvino.genai's finalize) and the search is done.
//
// Ranking and ties are deterministic: candidates as in 1; hypotheses by score, then by the order
// they finished (earlier first; within a step, in candidate rank order). A full set admits a new
// hypothesis only if it scores strictly above the worst kept one (as HF's BeamHypotheses.add).
//
// Total: a row entry that is NaN or +Infinity (no log-probability can be either) counts as
// -Infinity, i.e. masked; sums are then never NaN, and scores never NaN (see lengthPenalized). A
// row with every entry masked still yields candidates (as torch.topk would), with logprob
// -Infinity; they never beat a finite candidate. A beam whose sum is -Infinity keeps following
// its rows (the second key in 1), as greedy decoding follows argmax after a masked step.
//
// Cost per step: one pass over each row keeping its top K candidates by insertion into a
// K-slot buffer (no sort of the vocabulary), then a sort of at most width * K candidates. Token
// histories are shared parent-linked lists, so a step costs O(width) whatever the length.

export interface BeamSearchOptions {
  /** Beams kept (OVMS `best_of`), an integer >= 1. */
  width: number;
  /** Hypotheses returned (OVMS `n`), an integer in 1..width. */
  returned: number;
  /** score = sum of logprobs / (generated length ** lengthPenalty); OVMS default 1.0. Finite. */
  lengthPenalty: number;
  /** true: done once `width` hypotheses are finished; false (OVMS default): HF's heuristic. */
  earlyStopping: boolean;
  /** Most tokens generated per beam, an integer >= 1; at the limit live beams finish 'length'. */
  maxTokens: number;
  /** A token in here finishes a hypothesis (finish 'stop'). */
  eosIds: ReadonlySet<number>;
}

export interface BeamStep {
  /** For each beam alive after this step, in order: the index (into the beams before the step) of the beam it extends, and the token it appends. */
  parents: number[];
  tokens: number[];
}

export interface Hypothesis {
  /** Generated ids, the EOS included when it ended with one. */
  tokens: number[];
  /** Sum of the generated tokens' log-probabilities. */
  logprob: number;
  /** logprob / tokens.length ** lengthPenalty (never NaN). */
  score: number;
  finish: 'stop' | 'length';
}

export interface LiveBeam {
  readonly tokens: readonly number[];
  readonly logprob: number;
}

export interface BeamSearch {
  /** Live beams, best logprob first; starts as ONE empty beam, and is empty once done. */
  readonly beams: ReadonlyArray<LiveBeam>;
  readonly done: boolean;
  /**
   * rows[i] = log-probabilities over the vocabulary for live beam i (already log-softmaxed by the
   * caller). Returns the new live beams' parents/tokens (empty when done, on the step that ends
   * the search as on any later call). Throws only if rows.length differs from beams.length.
   */
  step(rows: readonly Float32Array[]): BeamStep;
  /**
   * The best `returned` hypotheses, best score first (fewer if fewer ever finished, e.g. with a
   * vocabulary smaller than the width). Meant for when done; called earlier (an aborted request),
   * the live beams take part as if they had finished 'length' now.
   */
  results(): Hypothesis[];
}

/**
 * logprob / length ** lengthPenalty, never NaN: 0/0 (a certain sequence under a penalty so
 * negative that the power underflows) is 0, and -Infinity/Infinity is -Infinity.
 */
export function lengthPenalized(logprob: number, length: number, lengthPenalty: number): number {
  const score = logprob / length ** lengthPenalty;
  if (score === score) return score;
  return logprob === 0 ? 0 : -Infinity;
}

/** A generated token and the history before it, shared between the beams that extend it. */
interface TokenNode {
  readonly token: number;
  readonly prev: TokenNode | null;
  readonly length: number;
}

function tokensOf(node: TokenNode | null): number[] {
  const out = new Array<number>(node ? node.length : 0);
  for (let n = node; n; n = n.prev) out[n.length - 1] = n.token;
  return out;
}

class Beam implements LiveBeam {
  #tokens: number[] | undefined;
  constructor(
    readonly node: TokenNode | null,
    readonly logprob: number,
  ) {}
  get length(): number {
    return this.node ? this.node.length : 0;
  }
  get tokens(): readonly number[] {
    return (this.#tokens ??= tokensOf(this.node));
  }
}

interface Finished {
  node: TokenNode | null;
  logprob: number;
  score: number;
  finish: 'stop' | 'length';
  /** Order of finishing, for deterministic ties. */
  seq: number;
}

/** a ranks before b: higher score, then finished earlier. */
const ranksBefore = (a: Finished, b: Finished) => a.score > b.score || (a.score === b.score && a.seq < b.seq);

/** A (beam, token) continuation: the token's logprob (`value`) and the beam's sum with it. */
interface Candidate {
  beam: number;
  token: number;
  value: number;
  sum: number;
}

/**
 * Candidate (sum, value) ranks strictly before (otherSum, otherValue): a higher sum, or an equal
 * sum and a likelier token. The second key matters once a beam is at -Infinity (after a fully
 * masked row), where every sum ties: its continuations still follow the row, as greedy would.
 */
const beats = (sum: number, value: number, otherSum: number, otherValue: number) => sum > otherSum || (sum === otherSum && value > otherValue);

/** A row entry as the search reads it: NaN and +Infinity count as masked. */
const readLogprob = (value: number) => (value < Infinity ? value : -Infinity);

function checkOptions(o: BeamSearchOptions): void {
  if (!Number.isInteger(o.width) || o.width < 1) throw new RangeError(`beam width must be an integer >= 1, got ${o.width}`);
  if (!Number.isInteger(o.returned) || o.returned < 1 || o.returned > o.width)
    throw new RangeError(`returned must be an integer in 1..${o.width}, got ${o.returned}`);
  if (!Number.isFinite(o.lengthPenalty)) throw new RangeError(`lengthPenalty must be finite, got ${o.lengthPenalty}`);
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) throw new RangeError(`maxTokens must be an integer >= 1, got ${o.maxTokens}`);
}

export function createBeamSearch(options: BeamSearchOptions): BeamSearch {
  checkOptions(options);
  const { width, returned, lengthPenalty, earlyStopping, maxTokens } = options;
  const eosIds = new Set(options.eosIds);
  const poolSize = Math.max(2, 1 + eosIds.size) * width; // K in the header comment

  let live: Beam[] = [new Beam(null, 0)];
  let done = false;
  const kept: Finished[] = []; // at most `width`, unordered
  let finishedCount = 0;

  // Per-row top-K buffer, best first.
  const rowSums = new Float64Array(poolSize);
  const rowValues = new Float64Array(poolSize);
  const rowTokens = new Int32Array(poolSize);

  const finish = (node: TokenNode | null, logprob: number, finishReason: 'stop' | 'length') => {
    const length = node ? node.length : 0;
    const entry: Finished = { node, logprob, score: lengthPenalized(logprob, length, lengthPenalty), finish: finishReason, seq: finishedCount++ };
    if (kept.length < width) {
      kept.push(entry);
      return;
    }
    let worst = 0;
    for (let i = 1; i < kept.length; i++) if (ranksBefore(kept[worst] as Finished, kept[i] as Finished)) worst = i;
    if (ranksBefore(entry, kept[worst] as Finished)) kept[worst] = entry;
  };

  const worstKeptScore = () => {
    let worst = Infinity;
    for (const k of kept) worst = Math.min(worst, k.score);
    return worst;
  };

  const end = (): BeamStep => {
    done = true;
    live = [];
    return { parents: [], tokens: [] };
  };

  return {
    get beams() {
      return live;
    },
    get done() {
      return done;
    },

    step(rows) {
      if (done) return { parents: [], tokens: [] };
      if (rows.length !== live.length) throw new RangeError(`beam search step needs ${live.length} rows, got ${rows.length}`);

      // 1. Each row's top K candidates, then the top K over all rows (see `beats`).
      const pool: Candidate[] = [];
      for (let b = 0; b < live.length; b++) {
        const base = (live[b] as Beam).logprob;
        const row = rows[b] as Float32Array;
        let count = 0;
        for (let t = 0; t < row.length; t++) {
          const value = readLogprob(row[t] as number);
          const sum = base + value;
          if (count === poolSize && !beats(sum, value, rowSums[poolSize - 1] as number, rowValues[poolSize - 1] as number)) continue;
          // Tokens arrive in increasing id order, so a tie never moves ahead of an earlier token.
          let j = count < poolSize ? count++ : poolSize - 1;
          for (; j > 0 && beats(sum, value, rowSums[j - 1] as number, rowValues[j - 1] as number); j--) {
            rowSums[j] = rowSums[j - 1] as number;
            rowValues[j] = rowValues[j - 1] as number;
            rowTokens[j] = rowTokens[j - 1] as number;
          }
          rowSums[j] = sum;
          rowValues[j] = value;
          rowTokens[j] = t;
        }
        for (let j = 0; j < count; j++) pool.push({ beam: b, token: rowTokens[j] as number, value: rowValues[j] as number, sum: rowSums[j] as number });
      }
      // Two -Infinity keys differ by NaN, which is falsy too: on to the next key.
      pool.sort((x, y) => y.sum - x.sum || y.value - x.value || x.beam - y.beam || x.token - y.token);
      if (pool.length > poolSize) pool.length = poolSize;

      // 2. EOS candidates within the first `width` finish; others fill the live beams.
      const next: Beam[] = [];
      const parents: number[] = [];
      const tokens: number[] = [];
      for (let rank = 0; rank < pool.length && next.length < width; rank++) {
        const { beam, token, sum } = pool[rank] as Candidate;
        const parent = live[beam] as Beam;
        const node: TokenNode = { token, prev: parent.node, length: parent.length + 1 };
        if (eosIds.has(token)) {
          if (rank < width) finish(node, sum, 'stop');
          continue;
        }
        next.push(new Beam(node, sum));
        parents.push(beam);
        tokens.push(token);
      }

      // 4. Done rules.
      const best = next[0];
      if (!best) return end();
      if (kept.length >= width) {
        if (earlyStopping) return end();
        if (worstKeptScore() >= lengthPenalized(best.logprob, best.length, lengthPenalty)) return end();
      }
      // 5. The length limit.
      if (best.length >= maxTokens) {
        for (const beam of next) finish(beam.node, beam.logprob, 'length');
        return end();
      }
      live = next;
      return { parents, tokens };
    },

    results() {
      const pool = kept.slice();
      if (!done) {
        let seq = finishedCount;
        for (const beam of live)
          pool.push({ node: beam.node, logprob: beam.logprob, score: lengthPenalized(beam.logprob, beam.length, lengthPenalty), finish: 'length', seq: seq++ });
      }
      pool.sort((a, b) => (ranksBefore(a, b) ? -1 : ranksBefore(b, a) ? 1 : 0));
      return pool.slice(0, returned).map((h) => ({ tokens: tokensOf(h.node), logprob: h.logprob, score: h.score, finish: h.finish }));
    },
  };
}
