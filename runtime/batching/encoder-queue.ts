// Token-budget batching queue for encoder models: gathers sequences from many requests into
// one backend run, bounded by padded tokens and a sequence cap; answers overload at once.
import { RuntimeError } from '../errors.ts';

export interface EncoderQueueLimits {
  /** Most sequences in one run. */
  maxBatchRequests: number;
  /** Most padded tokens (sequences x longest sequence) in one run. */
  maxBatchTokens: number;
  /** How long an idle queue waits for company before running a lone request. */
  maxWaitMs: number;
  /** Most requests waiting; one more is refused with queue_full. */
  maxQueuedRequests: number;
}

/** Runs one batch; returns one result per item, in order. */
export type RunBatch<TItem, TResult> = (items: TItem[]) => Promise<TResult[]>;

export interface EncoderQueue<TItem, TResult> {
  /** Queues a request's sequences; resolves with their results in order. */
  submit(items: Array<{ item: TItem; length: number }>, signal?: AbortSignal): Promise<TResult[]>;
  /** Requests waiting (not yet fully in a running batch). */
  readonly queuedRequests: number;
  /** Counters since start (for tests and metrics). */
  readonly stats: Readonly<BatchStats>;
}

export interface BatchStats {
  runs: number;
  sequences: number;
  largestBatch: number;
}

interface Group<TResult> {
  results: TResult[];
  remaining: number;
  settled: boolean;
  resolve: (results: TResult[]) => void;
  reject: (err: unknown) => void;
}

interface Entry<TItem, TResult> {
  item: TItem;
  length: number;
  slot: number;
  group: Group<TResult>;
}

export function createEncoderQueue<TItem, TResult>(
  limits: EncoderQueueLimits,
  runBatch: RunBatch<TItem, TResult>,
): EncoderQueue<TItem, TResult> {
  let pending: Array<Entry<TItem, TResult>> = [];
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  const stats: BatchStats = { runs: 0, sequences: 0, largestBatch: 0 };

  const waitingGroups = () => new Set(pending.map((e) => e.group)).size;

  /** Oldest first; stop at the first sequence that would push padded tokens over budget. */
  function takeBatch(): Array<Entry<TItem, TResult>> {
    const batch: Array<Entry<TItem, TResult>> = [];
    let longest = 0;
    for (const entry of pending) {
      const nextLongest = Math.max(longest, entry.length);
      const full = batch.length >= limits.maxBatchRequests || (batch.length > 0 && nextLongest * (batch.length + 1) > limits.maxBatchTokens);
      if (full) break;
      batch.push(entry);
      longest = nextLongest;
    }
    pending = pending.slice(batch.length);
    return batch;
  }

  function batchIsFull(): boolean {
    if (pending.length >= limits.maxBatchRequests) return true;
    const longest = pending.reduce((m, e) => Math.max(m, e.length), 0);
    return longest * pending.length >= limits.maxBatchTokens;
  }

  function schedule(): void {
    if (running || pending.length === 0) return;
    if (limits.maxWaitMs <= 0 || batchIsFull()) {
      clearTimeout(timer);
      timer = undefined;
      void runNext();
    } else {
      timer ??= setTimeout(() => {
        timer = undefined;
        void runNext();
      }, limits.maxWaitMs);
    }
  }

  async function runNext(): Promise<void> {
    if (running) return;
    const batch = takeBatch();
    if (batch.length === 0) return;
    running = true;
    stats.runs++;
    stats.sequences += batch.length;
    stats.largestBatch = Math.max(stats.largestBatch, batch.length);
    try {
      const results = await runBatch(batch.map((e) => e.item));
      batch.forEach((entry, i) => {
        const { group } = entry;
        if (group.settled) return;
        group.results[entry.slot] = results[i] as TResult;
        if (--group.remaining === 0) {
          group.settled = true;
          group.resolve(group.results);
        }
      });
    } catch (err) {
      for (const { group } of batch) {
        if (group.settled) continue;
        group.settled = true;
        pending = pending.filter((e) => e.group !== group);
        group.reject(err);
      }
    } finally {
      running = false;
      // Whatever arrived during the run has already waited: run it now.
      if (pending.length > 0) void runNext();
    }
  }

  return {
    submit(items, signal) {
      if (signal?.aborted) return Promise.reject(new RuntimeError('cancelled', 'The request was cancelled by the client.'));
      if (waitingGroups() >= limits.maxQueuedRequests) {
        return Promise.reject(
          new RuntimeError('queue_full', `The model's queue is full (${limits.maxQueuedRequests} requests waiting); retry shortly.`, {
            retryAfterSeconds: 1,
          }),
        );
      }
      if (items.length === 0) return Promise.resolve([]);
      return new Promise<TResult[]>((resolve, reject) => {
        const group: Group<TResult> = { results: new Array(items.length), remaining: items.length, settled: false, resolve, reject };
        const onAbort = () => {
          if (group.settled) return;
          group.settled = true;
          // Drop this request's sequences that have not reached a backend run yet.
          pending = pending.filter((e) => e.group !== group);
          reject(new RuntimeError('cancelled', 'The request was cancelled by the client.'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const cleanup = () => signal?.removeEventListener('abort', onAbort);
        group.resolve = (r) => (cleanup(), resolve(r));
        group.reject = (e) => (cleanup(), reject(e));
        items.forEach(({ item, length }, slot) => pending.push({ item, length, slot, group }));
        schedule();
      });
    },
    get queuedRequests() {
      return waitingGroups();
    },
    stats,
  };
}
