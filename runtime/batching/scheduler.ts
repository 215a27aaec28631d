// Continuous batching for one decoder model. Each step: sequences that finished or whose client
// left are dropped (their KV rows freed); if the KV budget would overflow, the newest sequences are
// preempted (requeued, recomputed later); waiting sequences are admitted — from the prefix cache
// where their prompt's first blocks are kept, else by one batched prefill; prompts still being fed
// get their next chunk within the step's token budget; then every running sequence advances in a
// single run (one token, or several when prompt-lookup speculation proposed some and they verify).
// The decoder session owns the KV cache; this loop only says which rows prefill, decode and stay.
// Admission counts sequences, not requests, and free slots go to the request running the fewest
// sequences, so one large request cannot hold the model while small ones wait. The policies are
// their own modules: step-budget.ts, kv-budget.ts, prefix-cache.ts, generation/prompt-lookup.ts.
import { HOLD, type DecoderSession, type ExtendRun, type PrefillLogits } from '../backends/backend.ts';
import { RuntimeError } from '../errors.ts';
import { logprobsOf, type TokenLogprob } from '../generation/sampler.ts';
import type { BeamSearch, Hypothesis } from '../generation/beam-search.ts';
import type { Sequence, StepOutput } from '../generation/sequence.ts';
import { admits, kvCost, preemptions } from './kv-budget.ts';
import { createPrefixCache, type PrefixCache } from './prefix-cache.ts';
import { FLOWING_AFTER, grantPrefill, stepBudget } from './step-budget.ts';

export interface SchedulerLimits {
  maxRunning: number;
  /** Most padded prompt tokens prefilled in one run (one sequence always goes). */
  maxBatchTokens: number;
  /**
   * Most sequences waiting to start beyond the free running slots; a request that would go over
   * is refused with queue_full.
   */
  maxQueuedSequences: number;
  /**
   * KV budget in positions: rows x the longest row may not exceed it. Admission keeps within it;
   * growth beyond it preempts the newest sequences. A sequence whose prompt + max tokens alone
   * exceed it is refused. Undefined: bounded by maxRunning x the context only.
   */
  maxKvTokens?: number;
  /**
   * Most tokens one step runs (decode tokens + prompt chunks), with sessions that can extend a row
   * (chunked prefill); undefined prefills every prompt whole.
   */
  maxStepTokens?: number;
  /** Prompt positions kept in the prefix cache (whole blocks), with sessions that keep blocks; 0 turns it off. */
  prefixCacheTokens?: number;
  /** The model's context, for the KV capacity reported without maxKvTokens (maxRunning x it). */
  contextLength?: number;
}

/**
 * Beam search for a submission's one sequence (which holds the prompt and max tokens): its beams
 * run as rows, reordered and forked as the search says, and its hypotheses come at the end.
 */
export interface BeamSubmission {
  search: BeamSearch;
  /** Rows it takes once it runs (the beam width). */
  width: number;
  /** The log-probabilities the search reads from a beam's logits row (which it may modify). */
  score(logits: Float32Array, tokens: readonly number[]): Float32Array;
  onResults(hypotheses: Hypothesis[]): void;
}

/** One request's sequences and where their output goes. */
export interface Submission {
  sequences: Sequence[];
  onStep(index: number, output: StepOutput): void;
  /** For echo with logprobs: prompt tokens 1.. scored by the prefill (token 0 has none). */
  promptLogprobs?: { top: number; onScores(index: number, scores: Array<{ logprob: number; top: TokenLogprob[] }>): void };
  /** Called once per sequence when its prompt is in the cache: how many of its tokens came from the prefix cache. */
  onPrefilled?(index: number, cachedTokens: number): void;
  /** Beam search instead of per-sequence steps; `sequences` then holds exactly one. */
  beam?: BeamSubmission;
  onDone(): void;
  onError(err: unknown): void;
  signal?: AbortSignal;
}

/** A running beam search: its rows in the order of the search's beams. */
interface BeamGroup {
  beam: BeamSubmission;
  entries: Entry[];
}

interface Entry {
  sequence: Sequence;
  index: number;
  submission: Submission;
  state: SubmissionState;
  /** What the row must hold before it decodes: the prompt, plus what was generated before a preemption. */
  context: readonly number[];
  /** Positions of the context the row holds. */
  fed: number;
  /** Of those, restored from the prefix cache. */
  cached: number;
  /** Prompt scores gathered over the chunks, for echo with logprobs (undefined: not asked). */
  scores?: Array<{ logprob: number; top: TokenLogprob[] }>;
  /** Admission order, newest largest (preemption takes the newest). */
  admitted: number;
  /** Whether onPrefilled was called (once, on the first admission). */
  reported: boolean;
  /** Beam rows: their search, the token to feed next, and whether the search let the beam go. */
  group?: BeamGroup;
  next?: number;
  closed?: boolean;
}

interface SubmissionState {
  cancelled: boolean;
  failed: boolean;
  remaining: number;
  /** Sequences of this submission in the running batch (fair admission reads it). */
  running: number;
  /** Submission order: ties in fairness go to the older request. */
  order: number;
  /** Detaches the abort listener once the submission has settled. */
  release: () => void;
}

export interface SchedulerStats {
  running: number;
  waiting: number;
  steps: number;
  prefills: number;
  /** Runs that fed a prompt chunk over a row's cache (chunked prefill, prefix-cache remainders). */
  chunks: number;
  /** Of those, chunks that rode in a decode run (extendPair): one pass over the weights for both. */
  sharedChunks: number;
  /** Largest number of sequences advanced by one decode run. */
  largestDecodeBatch: number;
  /** Largest number of tokens one step ran (decode + prefill + chunks). */
  largestStepTokens: number;
  /** Prompt tokens restored from the prefix cache instead of computed. */
  cachedTokens: number;
  /** Sequences preempted (rows freed, recomputed later) to stay within the KV budget. */
  preemptions: number;
  /** Rows x longest row held now, the largest so far, and what the budget allows, in positions. */
  kvTokens: number;
  peakKvTokens: number;
  kvCapacity: number;
  /** Prompt tokens looked up in the prefix cache (cachedTokens of them were found). */
  prefixQueriedTokens: number;
  /**
   * Wall seconds of the steps' engine work by what it ran: prefills and chunk runs of their own
   * (prefills + chunks - sharedChunks of them), decode runs (steps - sharedChunks) and decode runs a
   * chunk rode in (sharedChunks). Their means show what a chunk adds to the streams' step.
   */
  seconds: { prefill: number; decode: number; decodeWithChunk: number };
  /** Speculated tokens proposed, and of those accepted. */
  proposedTokens: number;
  acceptedTokens: number;
}

export interface Scheduler {
  submit(submission: Submission): void;
  readonly stats: Readonly<SchedulerStats>;
}

/** Tokens the first waiting prompt gets even when decoding fills a step. */
const CHUNK_FLOOR = 32;

export function createScheduler(session: DecoderSession, limits: SchedulerLimits): Scheduler {
  let waiting: Entry[] = [];
  /** Entries in session row order. */
  let rows: Entry[] = [];
  let looping = false;
  let submitted = 0;
  let admissions = 0;
  /** Sequences taken from the queue whose prefill is running: they hold slots already. */
  let admitting = 0;
  const chunking = session.extend !== undefined && limits.maxStepTokens !== undefined;
  /** A prompt chunk can share the decode rows' run (two token groups in one pass over the weights). */
  const fusing = chunking && session.extendPair !== undefined;
  const blocks = session.blocks;
  const prefixCache: PrefixCache | undefined =
    blocks && session.extend && (limits.prefixCacheTokens ?? 0) >= blocks.size ? createPrefixCache(blocks.size, Math.floor((limits.prefixCacheTokens as number) / blocks.size)) : undefined;
  const stats: SchedulerStats = {
    running: 0,
    waiting: 0,
    steps: 0,
    prefills: 0,
    chunks: 0,
    sharedChunks: 0,
    largestDecodeBatch: 0,
    largestStepTokens: 0,
    cachedTokens: 0,
    preemptions: 0,
    kvTokens: 0,
    peakKvTokens: 0,
    kvCapacity: limits.maxKvTokens ?? limits.maxRunning * (limits.contextLength ?? 0),
    prefixQueriedTokens: 0,
    seconds: { prefill: 0, decode: 0, decodeWithChunk: 0 },
    proposedTokens: 0,
    acceptedTokens: 0,
  };
  const sync = () => {
    stats.running = rows.length;
    stats.waiting = new Set(waiting.map((e) => e.submission)).size;
    stats.kvTokens = kvCost(rows.map((e) => ({ length: e.fed, order: 0 })));
    stats.peakKvTokens = Math.max(stats.peakKvTokens, stats.kvTokens);
  };
  const live = (e: Entry) => !e.state.cancelled && !e.state.failed;
  /** Whether the row holds its whole context (it decodes; fed grows past the context as it does). */
  const decoding = (e: Entry) => e.fed >= e.context.length;

  function deliver(entry: Entry, output: StepOutput): void {
    if (!live(entry)) return;
    entry.submission.onStep(entry.index, output);
    if (output.finish && --entry.state.remaining === 0) {
      entry.state.release();
      entry.submission.onDone();
    }
  }

  function fail(entries: Entry[], err: unknown): void {
    for (const e of entries) {
      if (!live(e) || e.state.remaining === 0) continue;
      e.state.failed = true;
      e.state.release();
      e.submission.onError(err);
    }
  }

  /** Keeps these rows (in order) in the session and here; the others' slots are freed. */
  function keep(kept: Entry[]): void {
    if (kept.length === rows.length) return;
    const index = new Map(rows.map((e, row) => [e, row]));
    for (const e of rows) if (!kept.includes(e)) e.state.running--;
    session.keepRows(kept.map((e) => index.get(e) as number));
    rows = kept;
    sync();
  }

  /** Finished and cancelled sequences leave the batch; their KV rows go with them. */
  const dropLeavers = () => keep(rows.filter((e) => !e.sequence.finished && !e.closed && live(e)));

  /** Beam rows forked this step: the new row's entry and the row it copies. */
  let forks: Array<{ entry: Entry; from: Entry }> = [];

  /** One step of a beam search: its rows' log-probabilities in, its beams kept, forked or let go. */
  function beamStep(group: BeamGroup, logitsOf: (e: Entry) => Float32Array): void {
    const search = group.beam.search;
    const { parents, tokens } = search.step(group.entries.map((e, k) => group.beam.score(logitsOf(e), (search.beams[k] as { tokens: readonly number[] }).tokens)));
    if (search.done) {
      for (const e of group.entries) e.closed = true;
      const first = group.entries[0] as Entry;
      if (!live(first)) return;
      first.state.remaining = 0;
      first.state.release();
      group.beam.onResults(search.results());
      first.submission.onDone();
      return;
    }
    const reused = new Set<Entry>();
    const next = parents.map((p, k) => {
      const parent = group.entries[p] as Entry;
      if (!reused.has(parent)) {
        reused.add(parent);
        parent.next = tokens[k] as number;
        return parent;
      }
      const copy: Entry = { ...parent, next: tokens[k] as number };
      forks.push({ entry: copy, from: parent });
      return copy;
    });
    for (const e of group.entries) if (!reused.has(e)) e.closed = true;
    group.entries = next;
  }

  /** The session follows the beam steps: closed rows go, forked rows are appended as copies. */
  function applyBeamSteps(): void {
    if (forks.length === 0 && !rows.some((e) => e.closed)) return;
    const index = new Map(rows.map((e, row) => [e, row]));
    const kept = rows.filter((e) => !e.closed);
    for (const e of rows) if (e.closed) e.state.running--;
    for (const f of forks) f.entry.state.running++;
    session.keepRows([...kept.map((e) => index.get(e) as number), ...forks.map((f) => index.get(f.from) as number)]);
    rows = [...kept, ...forks.map((f) => f.entry)];
    forks = [];
    sync();
  }

  /** Growth beyond the KV budget: the newest rows go back to the front of the queue, to be recomputed. */
  function preempt(): void {
    const held = rows.map((e) => ({ length: Math.max(e.fed, e.context.length), order: e.admitted }));
    // A beam search is not preempted: its beams would have to be recomputed together.
    const victims = new Set(preemptions(held, limits.maxKvTokens, 1).map((i) => rows[i] as Entry).filter((e) => !e.group && !e.submission.beam));
    if (victims.size === 0) return;
    keep(rows.filter((e) => !victims.has(e)));
    stats.preemptions += victims.size;
    waiting = [...[...victims].sort((a, b) => a.admitted - b.admitted), ...waiting];
    sync();
  }

  /** The waiting sequence whose request runs the fewest sequences now (ties: the oldest request). */
  function fairest(): number {
    let best = 0;
    for (let i = 1; i < waiting.length; i++) {
      const a = (waiting[i] as Entry).state;
      const b = (waiting[best] as Entry).state;
      if (a.running < b.running || (a.running === b.running && a.order < b.order)) best = i;
    }
    return best;
  }

  /** Prefix-cache keys of a context (computed once per admission). */
  const keysOf = new WeakMap<Entry, string[]>();

  /**
   * Admits waiting sequences into free slots, within the KV budget and the step's token budget:
   * those whose prompt starts with cached blocks get a row opened from them now (fed in
   * `feedChunks`); the rest are returned to be prefilled, each with its grant (a grant short of
   * the context is a first chunk).
   */
  function admit(left: number, nothingElse: boolean): Array<{ entry: Entry; grant: number }> {
    const fresh: Array<{ entry: Entry; grant: number }> = [];
    let widest = 0;
    const kvRows = rows.map((e) => ({ length: Math.max(e.fed, e.context.length), order: 0 }));
    while (rows.length + fresh.length < limits.maxRunning && waiting.length > 0) {
      const at = fairest();
      const next = waiting[at] as Entry;
      const width = next.submission.beam?.width ?? 1;
      if (rows.length + fresh.length + width > limits.maxRunning) break;
      const generated = next.sequence.generated;
      const context = generated.length > 0 ? [...next.sequence.prompt, ...generated] : next.sequence.prompt;
      const wide = Array.from({ length: width - 1 }, () => ({ length: context.length, order: 0 }));
      if (!admits([...kvRows, ...wide], context.length, limits.maxKvTokens) && rows.length + fresh.length > 0) break;
      // Prompt logprobs need every position computed, so they skip the cache.
      const wantsScores = next.submission.promptLogprobs !== undefined && generated.length === 0;
      const keys = prefixCache && !wantsScores ? prefixCache.keys(context) : undefined;
      const hit = keys && prefixCache ? prefixCache.lookup(keys.slice(0, Math.floor((context.length - 1) / (blocks as NonNullable<typeof blocks>).size))) : [];
      const cached = hit.length * (blocks?.size ?? 0);
      const need = context.length - cached;
      const grant = !chunking ? need : Math.min(need, left > 0 ? left : nothingElse && fresh.length === 0 ? Math.min(CHUNK_FLOOR, limits.maxStepTokens as number) : 0);
      if (grant <= 0) break;
      const padded = Math.max(widest, grant);
      if (cached === 0 && fresh.length > 0 && padded * (fresh.length + 1) > limits.maxBatchTokens) break;
      waiting.splice(at, 1);
      next.state.running++;
      if (keys) stats.prefixQueriedTokens += context.length;
      Object.assign(next, { context, fed: cached, cached, admitted: admissions++, scores: wantsScores ? [] : undefined });
      if (keys) keysOf.set(next, keys);
      kvRows.push({ length: context.length, order: 0 }, ...wide);
      left -= grant;
      // While rows decode, a prompt joins as a row opened from its cached blocks (or none) and is
      // fed in chunks that share the decode's run, rather than in a prefill run of its own.
      if (cached > 0 || (fusing && blocks && rows.some(decoding))) {
        (blocks as NonNullable<typeof blocks>).open(hit, context.length);
        stats.cachedTokens += cached;
        rows.push(next);
        pendingGrant.set(next, grant);
      } else {
        widest = padded;
        fresh.push({ entry: next, grant });
      }
    }
    sync();
    return fresh;
  }

  /** Grants of this step for rows opened from the cache during admission. */
  const pendingGrant = new Map<Entry, number>();

  /** Scores of prompt positions fed this run (prompt logprobs), kept until the prompt is complete. */
  function gatherScores(e: Entry, logits: PrefillLogits, row: number, from: number, count: number): void {
    const wanted = e.submission.promptLogprobs;
    if (!wanted || !e.scores) return;
    for (let t = 0; t < count && from + t + 1 < e.context.length; t++) e.scores.push(logprobsOf(logits.at(row, t), e.context[from + t + 1] as number, wanted.top));
  }

  /** A row whose context is now complete: its prompt blocks join the cache, and it takes its first step. */
  function completed(e: Entry, logits: PrefillLogits, row: number, sessionRow: number): void {
    if (!live(e)) return;
    if (e.scores) e.submission.promptLogprobs?.onScores(e.index, e.scores);
    e.scores = undefined;
    if (!e.reported) {
      e.reported = true;
      e.submission.onPrefilled?.(e.index, e.cached);
    }
    const keys = keysOf.get(e);
    if (prefixCache && keys && blocks) {
      const { save, drop } = prefixCache.insert(keys, 0);
      blocks.drop(drop);
      for (const { block, id } of save) blocks.save(sessionRow, block, [id]);
    }
    const beam = e.submission.beam;
    if (!beam) return deliver(e, e.sequence.step(logits.last(row)));
    // The prompt's row is the search's one first beam; its first step forks the others from it.
    e.group = { beam, entries: [e] };
    beamStep(e.group, () => logits.last(row).slice());
  }

  /**
   * One prefill run for the admitted sequences without a cached prefix (their whole context, or
   * a first chunk). Sequences of one request with the same prompt are prefilled once and forked.
   */
  async function prefill(fresh: Array<{ entry: Entry; grant: number }>): Promise<void> {
    const unique: Array<{ entry: Entry; grant: number }> = [];
    const copies = new Map<Entry, Entry[]>();
    for (const f of fresh) {
      const source = unique.find((u) => u.entry.state === f.entry.state && u.entry.context === f.entry.context && u.grant === f.grant && !u.entry.scores === !f.entry.scores);
      if (source) copies.get(source.entry)?.push(f.entry);
      else {
        unique.push(f);
        copies.set(f.entry, []);
      }
    }
    const logits = await session.prefill(
      unique.map((u) => u.entry.context.slice(0, u.grant)),
      unique.map((u) => u.entry.scores !== undefined),
    );
    stats.prefills++;
    const first = rows.length;
    rows.push(...unique.map((u) => u.entry));
    unique.forEach(({ entry }, r) => {
      for (const copy of copies.get(entry) ?? []) {
        session.fork(first + r, 1);
        rows.push(copy);
      }
    });
    // Every row is in place before any completes (completion may save blocks from its row).
    unique.forEach(({ entry, grant }, r) => {
      const family = [entry, ...(copies.get(entry) ?? [])];
      for (const e of family) {
        e.fed = grant;
        gatherScores(e, logits, r, 0, grant);
        if (decoding(e)) completed(e, copyOf(logits, r), 0, rows.indexOf(e));
      }
    });
    applyBeamSteps();
    sync();
  }

  /** Rows being prefilled, fed together: neighbouring session rows and their grants. */
  type ChunkRun = Array<{ entry: Entry; grant: number }>;

  /** This step's chunks as runs of neighbouring rows (rows still held and live). */
  function chunkRuns(grants: Map<Entry, number>): ChunkRun[] {
    const fed = [...grants]
      .map(([entry, grant]) => ({ entry, grant, row: rows.indexOf(entry) }))
      .filter((f) => f.row >= 0 && f.grant > 0 && live(f.entry))
      .sort((a, b) => a.row - b.row);
    const runs: ChunkRun[] = [];
    fed.forEach((f, i) => {
      if (i > 0 && (fed[i - 1] as (typeof fed)[number]).row === f.row - 1) (runs.at(-1) as ChunkRun).push(f);
      else runs.push([f]);
    });
    return runs;
  }

  /** A run's extend arguments, at the rows its entries hold now. */
  const chunkArgs = (run: ChunkRun): ExtendRun => ({
    first: rows.indexOf((run[0] as ChunkRun[number]).entry),
    tokens: run.map(({ entry, grant }) => entry.context.slice(entry.fed, entry.fed + grant)),
    everyPosition: run.map(({ entry }) => entry.scores !== undefined),
  });

  /** A run's chunks are in the cache: rows whose context is now complete take their first step. */
  function chunkFed(run: ChunkRun, logits: PrefillLogits): void {
    stats.chunks++;
    run.forEach(({ entry, grant }, r) => {
      const from = entry.fed;
      entry.fed = from + grant;
      gatherScores(entry, logits, r, from, grant);
      if (decoding(entry)) completed(entry, logits, r, rows.indexOf(entry));
    });
  }

  /** A chunk run on its own (when it does not share the decode's run). */
  async function feedRun(run: ChunkRun): Promise<void> {
    const { first, tokens, everyPosition } = chunkArgs(run);
    chunkFed(run, await (session.extend as NonNullable<DecoderSession['extend']>)(first, tokens, everyPosition));
    applyBeamSteps();
  }

  /**
   * Every decoding row advances: one token each in a decode run, or, when some rows proposed
   * speculated tokens, their last token and the proposals in one extend run, each proposal
   * accepted while it is what the sequence itself chooses (so output is exactly plain decoding's).
   * A chunk run given here shares the run (extendPair): the step reads the weights once.
   */
  async function decode(chunk?: ChunkRun): Promise<'prefill' | 'decode' | 'decodeWithChunk' | 'nothing'> {
    const held = chunk?.filter(({ entry }) => rows.includes(entry) && live(entry)) ?? [];
    const active = rows.map((e) => decoding(e) && live(e) && !e.sequence.finished && !e.closed);
    const count = active.filter(Boolean).length;
    if (count === 0) {
      if (held.length === 0) return 'nothing';
      await feedRun(held);
      return 'prefill';
    }
    const proposals = rows.map((e, row) => (active[row] && session.extend && session.truncate ? e.sequence.propose() : []));
    const last = (e: Entry) => (e.group ? (e.next as number) : (e.sequence.generated.at(-1) as number));
    if (proposals.some((p) => p.length > 0) || held.length > 0) {
      const tokens = rows.map((e, row) => (active[row] ? [last(e), ...(proposals[row] as number[])] : []));
      const every = proposals.map((p) => p.length > 0);
      const pending =
        held.length > 0
          ? (session.extendPair as NonNullable<DecoderSession['extendPair']>)({ first: 0, tokens, everyPosition: every }, chunkArgs(held))
          : (session.extend as NonNullable<DecoderSession['extend']>)(0, tokens, every).then((logits) => [logits] as const);
      for (const [row, e] of rows.entries()) if (active[row]) e.sequence.prepare();
      const [logits, chunkLogits] = await pending;
      // The chunk's rows first: nothing has moved a row yet, and a row it completes steps now.
      if (chunkLogits) {
        stats.sharedChunks++;
        chunkFed(held, chunkLogits);
      }
      stats.steps++;
      stats.largestDecodeBatch = Math.max(stats.largestDecodeBatch, count);
      const groups = new Set<BeamGroup>();
      rows.forEach((e, row) => {
        if (!active[row]) return;
        if (e.group) {
          e.fed++;
          groups.add(e.group);
          return;
        }
        const proposed = proposals[row] as number[];
        stats.proposedTokens += proposed.length;
        const start = e.fed;
        let used = 0;
        while (used <= proposed.length && live(e)) {
          if (used > 0) e.sequence.prepare();
          const out = e.sequence.step(proposed.length > 0 ? logits.at(row, used) : logits.last(row));
          deliver(e, out);
          used++;
          if (out.finish || used > proposed.length || out.token !== proposed[used - 1]) break;
          stats.acceptedTokens++;
        }
        // The row holds the fed tokens that were right: the last one and the accepted proposals.
        e.fed = start + used;
        if (used < proposed.length + 1) (session.truncate as NonNullable<DecoderSession['truncate']>)(row, e.fed);
      });
      const rowOf = new Map(rows.map((e, row) => [e, row]));
      for (const group of groups) beamStep(group, (e) => logits.last(rowOf.get(e) as number));
      applyBeamSteps();
      return chunkLogits ? 'decodeWithChunk' : 'decode';
    }
    const pending = session.decode(rows.map((e, row) => (active[row] ? last(e) : HOLD)));
    // The model runs in the inference worker: meanwhile the sequences get ready for their logits.
    for (const [row, e] of rows.entries()) if (active[row]) e.sequence.prepare();
    const logits = await pending;
    stats.steps++;
    stats.largestDecodeBatch = Math.max(stats.largestDecodeBatch, count);
    const vocab = logits.length / rows.length;
    const rowOf = new Map(rows.map((e, row) => [e, row]));
    const groups = new Set<BeamGroup>();
    rows.forEach((e, row) => {
      if (!active[row]) return;
      e.fed++;
      if (e.group) groups.add(e.group);
      else deliver(e, e.sequence.step(logits.subarray(row * vocab, (row + 1) * vocab)));
    });
    for (const group of groups) {
      beamStep(group, (e) => {
        const row = rowOf.get(e) as number;
        return logits.subarray(row * vocab, (row + 1) * vocab);
      });
    }
    applyBeamSteps();
    return 'decode';
  }

  /** A failed run: the batch cache went with it, so every sequence in flight fails. */
  function failEverything(err: unknown, also: Entry[] = []): void {
    const all = [...rows, ...also.filter((e) => !rows.includes(e))];
    fail(all, wrap(err));
    for (const e of all) e.state.running--;
    rows = [];
    forks = [];
    pendingGrant.clear();
    session.reset();
    sync();
  }

  async function step(): Promise<void> {
    dropLeavers();
    preempt();
    // The step's token budget: decoding rows first, then the rows part-way through their prompt
    // (oldest first), then admissions with what is left.
    const decodeTokens = rows.filter(decoding).length;
    const partial = rows.filter((e) => !decoding(e));
    const flowing = rows.filter((e) => decoding(e) && e.sequence.generated.length >= FLOWING_AFTER).length;
    const budget = stepBudget(limits.maxStepTokens ?? Infinity, flowing, partial.length + Math.min(waiting.length, Math.max(0, limits.maxRunning - rows.length)));
    const remaining = partial.map((e) => e.context.length - e.fed);
    const given = chunking ? grantPrefill({ budget, floor: Math.min(CHUNK_FLOOR, budget) }, decodeTokens, remaining) : remaining;
    const grants = new Map(partial.map((e, i) => [e, given[i] as number]));
    const spent = decodeTokens + sum(given);
    const fresh = admit(budget - spent, partial.length === 0);
    for (const [e, grant] of pendingGrant) grants.set(e, grant);
    const tokens = spent + sum([...pendingGrant.values()]) + sum(fresh.map((f) => f.grant));
    pendingGrant.clear();
    if (fresh.length > 0) {
      admitting = fresh.length;
      const started = performance.now();
      try {
        await prefill(fresh);
      } catch (err) {
        failEverything(err, fresh.map((f) => f.entry));
        return;
      } finally {
        admitting = 0;
        stats.seconds.prefill += (performance.now() - started) / 1000;
      }
    }
    try {
      dropLeavers();
      const runs = chunkRuns(grants);
      // The largest chunk run shares the decode's run; any other runs on its own first.
      const shared = fusing && rows.some(decoding) ? largest(runs) : undefined;
      let started = performance.now();
      for (const run of runs) if (run !== shared) await feedRun(run);
      stats.seconds.prefill += (performance.now() - started) / 1000;
      dropLeavers();
      started = performance.now();
      const ran = await decode(shared);
      if (ran !== 'nothing') stats.seconds[ran] += (performance.now() - started) / 1000;
    } catch (err) {
      failEverything(err);
      return;
    }
    stats.largestStepTokens = Math.max(stats.largestStepTokens, tokens);
    sync();
  }

  async function loop(): Promise<void> {
    if (looping) return;
    looping = true;
    try {
      while (rows.length > 0 || waiting.length > 0) await step();
    } finally {
      looping = false;
      sync();
    }
  }

  return {
    stats,
    submit(submission) {
      if (submission.signal?.aborted) throw new RuntimeError('cancelled', 'The request was cancelled by the client.');
      const budget = limits.maxKvTokens;
      const largest = Math.max(...submission.sequences.map(reserved)) * (submission.beam?.width ?? 1);
      if (budget !== undefined && largest > budget) {
        throw new RuntimeError('invalid_request', `This request's prompt and max_tokens need ${largest} KV positions; the model's KV budget (max_kv_tokens) is ${budget}.`, { param: 'max_tokens' });
      }
      // Waiting sequences fill the free slots first; beyond them maxQueuedSequences may wait.
      if ((submission.beam?.width ?? 1) > limits.maxRunning) {
        throw new RuntimeError('invalid_request', `Beam search with ${submission.beam?.width} beams needs that many running sequences; this model runs at most ${limits.maxRunning} (max_running_sequences).`, { param: 'bestOf' });
      }
      const room = limits.maxQueuedSequences + Math.max(0, limits.maxRunning - rows.length - admitting) - waiting.length;
      if (submission.sequences.length > room) {
        throw new RuntimeError(
          'queue_full',
          `The model's queue is full (${waiting.length} sequences waiting, ${rows.length} running; this request adds ${submission.sequences.length}); retry shortly.`,
          { retryAfterSeconds: 1 },
        );
      }
      const onAbort = () => {
        if (state.failed || state.remaining === 0) return;
        // Waiting sequences go now; running ones leave the batch before the next step.
        state.cancelled = true;
        waiting = waiting.filter((e) => e.state !== state);
        sync();
        submission.onError(new RuntimeError('cancelled', 'The request was cancelled by the client.'));
      };
      const state: SubmissionState = {
        cancelled: false,
        failed: false,
        remaining: submission.sequences.length,
        running: 0,
        order: submitted++,
        release: () => submission.signal?.removeEventListener('abort', onAbort),
      };
      const entries: Entry[] = submission.sequences.map((sequence, index) => ({ sequence, index, submission, state, context: sequence.prompt, fed: 0, cached: 0, admitted: 0, reported: false }));
      submission.signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(...entries);
      sync();
      void loop();
    },
  };
}

/** Logits of one prefill row as a PrefillLogits of its own (forks read the same row). */
function copyOf(logits: PrefillLogits, row: number): PrefillLogits {
  return { last: () => logits.last(row).slice(), at: (_r, t) => logits.at(row, t) };
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** The run feeding the most tokens. */
function largest<T extends ReadonlyArray<{ grant: number }>>(runs: readonly T[]): T | undefined {
  return runs.reduce<T | undefined>((best, run) => (best === undefined || sum(run.map((r) => r.grant)) > sum(best.map((r) => r.grant)) ? run : best), undefined);
}

/** The KV positions a sequence can come to hold. */
const reserved = (s: Sequence) => s.prompt.length + s.maxTokens;

function wrap(err: unknown): unknown {
  return err instanceof RuntimeError ? err : new RuntimeError('internal', `generation failed: ${(err as Error).message}`, { cause: err });
}
