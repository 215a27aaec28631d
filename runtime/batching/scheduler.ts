// Continuous batching for one decoder model. Each iteration: sequences that finished or whose
// client left are dropped (their KV rows freed), waiting sequences are prefilled together and
// join the batch, then every running sequence advances one token in a single backend run. The
// decoder session owns the KV cache; this loop only says which rows prefill, decode and stay.
// Admission counts sequences, not requests, and free slots go to the request running the fewest
// sequences, so one large request cannot hold the model while small ones wait.
import type { DecoderSession } from '../backends/backend.ts';
import { RuntimeError } from '../errors.ts';
import { logprobsOf, type TokenLogprob } from '../generation/sampler.ts';
import type { Sequence, StepOutput } from '../generation/sequence.ts';

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
   * KV budget in positions: rows x the longest reservation (prompt + max tokens) of the running
   * sequences may not exceed it, so the cache (rows of one length) stays bounded. A sequence alone
   * above it is refused. Undefined: bounded by maxRunning x the context only.
   */
  maxKvTokens?: number;
}

/** One request's sequences and where their output goes. */
export interface Submission {
  sequences: Sequence[];
  onStep(index: number, output: StepOutput): void;
  /** For echo with logprobs: prompt tokens 1.. scored by the prefill (token 0 has none). */
  promptLogprobs?: { top: number; onScores(index: number, scores: Array<{ logprob: number; top: TokenLogprob[] }>): void };
  onDone(): void;
  onError(err: unknown): void;
  signal?: AbortSignal;
}

interface Entry {
  sequence: Sequence;
  index: number;
  submission: Submission;
  state: SubmissionState;
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
  /** Largest number of sequences advanced by one decode run. */
  largestDecodeBatch: number;
}

export interface Scheduler {
  submit(submission: Submission): void;
  readonly stats: Readonly<SchedulerStats>;
}

export function createScheduler(session: DecoderSession, limits: SchedulerLimits): Scheduler {
  let waiting: Entry[] = [];
  let running: Entry[] = [];
  let looping = false;
  let submitted = 0;
  /** Sequences taken from the queue whose prefill is running: they hold slots already. */
  let admitting = 0;
  const stats: SchedulerStats = { running: 0, waiting: 0, steps: 0, prefills: 0, largestDecodeBatch: 0 };
  const sync = () => {
    stats.running = running.length;
    stats.waiting = new Set(waiting.map((e) => e.submission)).size;
  };

  function deliver(entry: Entry, output: StepOutput): void {
    if (entry.state.cancelled || entry.state.failed) return;
    entry.submission.onStep(entry.index, output);
    if (output.finish && --entry.state.remaining === 0) {
      entry.state.release();
      entry.submission.onDone();
    }
  }

  function fail(entries: Entry[], err: unknown): void {
    for (const e of entries) {
      if (e.state.failed || e.state.cancelled || e.state.remaining === 0) continue;
      e.state.failed = true;
      e.state.release();
      e.submission.onError(err);
    }
  }

  /** Finished and cancelled sequences leave the batch; their KV rows go with them. */
  function dropLeavers(): void {
    const keep: number[] = [];
    running.forEach((e, row) => {
      if (!e.sequence.finished && !e.state.cancelled && !e.state.failed) keep.push(row);
    });
    if (keep.length === running.length) return;
    running.forEach((e, row) => {
      if (!keep.includes(row)) e.state.running--;
    });
    session.keepRows(keep);
    running = keep.map((row) => running[row] as Entry);
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

  function takeAdmissions(): Entry[] {
    const slots = limits.maxRunning - running.length;
    const admitted: Entry[] = [];
    let longest = 0;
    let longestReserved = Math.max(0, ...running.map((e) => reserved(e.sequence)));
    while (admitted.length < slots && waiting.length > 0) {
      const at = fairest();
      const next = waiting[at] as Entry;
      const nextLongest = Math.max(longest, next.sequence.prompt.length);
      if (admitted.length > 0 && nextLongest * (admitted.length + 1) > limits.maxBatchTokens) break;
      const nextReserved = Math.max(longestReserved, reserved(next.sequence));
      const rows = running.length + admitted.length + 1;
      if (limits.maxKvTokens !== undefined && rows > 1 && rows * nextReserved > limits.maxKvTokens) break;
      longestReserved = nextReserved;
      admitted.push(next);
      waiting.splice(at, 1);
      next.state.running++;
      longest = nextLongest;
    }
    sync();
    return admitted;
  }

  /** Prefill: all admitted prompts in one run; each gets its first token. */
  async function prefill(admitted: Entry[]): Promise<void> {
    const logits = await session.prefill(
      admitted.map((e) => e.sequence.prompt),
      admitted.map((e) => e.submission.promptLogprobs !== undefined),
    );
    stats.prefills++;
    admitted.forEach((e, row) => {
      const wanted = e.submission.promptLogprobs;
      if (wanted && !e.state.cancelled) {
        const scores = [];
        for (let t = 0; t + 1 < e.sequence.prompt.length; t++) scores.push(logprobsOf(logits.at(row, t), e.sequence.prompt[t + 1] as number, wanted.top));
        wanted.onScores(e.index, scores);
      }
      if (!e.state.cancelled) deliver(e, e.sequence.step(logits.last(row)));
    });
    running = [...running, ...admitted];
    sync();
  }

  /** Decode: every running sequence advances one token in one run. */
  async function decode(): Promise<void> {
    const rows = running.length;
    const pending = session.decode(running.map((e) => e.sequence.generated.at(-1) as number));
    // The model runs in the inference worker: meanwhile the sequences get ready for their logits.
    for (const e of running) e.sequence.prepare();
    const logits = await pending;
    stats.steps++;
    stats.largestDecodeBatch = Math.max(stats.largestDecodeBatch, rows);
    const vocab = logits.length / rows;
    running.forEach((e, row) => {
      if (!e.state.cancelled && !e.state.failed) deliver(e, e.sequence.step(logits.subarray(row * vocab, (row + 1) * vocab)));
    });
  }

  async function loop(): Promise<void> {
    if (looping) return;
    looping = true;
    try {
      while (running.length > 0 || waiting.length > 0) {
        dropLeavers();
        const admitted = takeAdmissions();
        if (admitted.length > 0) {
          admitting = admitted.length;
          try {
            await prefill(admitted);
          } catch (err) {
            // The batch cache went to the failed run: every sequence in flight fails with it.
            fail([...admitted, ...running], wrap(err));
            for (const e of [...admitted, ...running]) e.state.running--;
            running = [];
            session.reset();
            sync();
            continue;
          } finally {
            admitting = 0;
          }
        }
        dropLeavers();
        if (running.length === 0) continue;
        try {
          await decode();
        } catch (err) {
          fail(running, wrap(err));
          for (const e of running) e.state.running--;
          running = [];
          session.reset();
          sync();
        }
      }
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
      const largest = Math.max(...submission.sequences.map(reserved));
      if (budget !== undefined && largest > budget) {
        throw new RuntimeError('invalid_request', `This request's prompt and max_tokens need ${largest} KV positions; the model's KV budget (max_kv_tokens) is ${budget}.`, { param: 'max_tokens' });
      }
      // Waiting sequences fill the free slots first; beyond them maxQueuedSequences may wait.
      const room = limits.maxQueuedSequences + Math.max(0, limits.maxRunning - running.length - admitting) - waiting.length;
      if (submission.sequences.length > room) {
        throw new RuntimeError(
          'queue_full',
          `The model's queue is full (${waiting.length} sequences waiting, ${running.length} running; this request adds ${submission.sequences.length}); retry shortly.`,
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
      const entries = submission.sequences.map((sequence, index) => ({ sequence, index, submission, state }));
      submission.signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(...entries);
      sync();
      void loop();
    },
  };
}

/** The KV positions a sequence can come to hold. */
const reserved = (s: Sequence) => s.prompt.length + s.maxTokens;

function wrap(err: unknown): unknown {
  return err instanceof RuntimeError ? err : new RuntimeError('internal', `generation failed: ${(err as Error).message}`, { cause: err });
}

