// Token-budget batching queue for encoder models: gathers sequences from many requests into
// one backend run, bounded by padded tokens and a sequence cap; answers overload at once.
// Admission counts tokens as well as requests, and each batch is anchored on the request that
// has had the fewest sequences run, so a request of 2,048 texts cannot starve one of a single text.
import { RuntimeError } from '../errors.ts';

export interface EncoderQueueLimits {
  /** Most sequences in one run. */
  maxBatchRequests: number;
  /** Most padded tokens (sequences x longest sequence) in one run. */
  maxBatchTokens: number;
  /**
   * Longest an idle queue waits for company. It waits only while the batch is still smaller than
   * the previous one (the size the load has shown it brings), so steady traffic pays no delay.
   */
  maxWaitMs: number;
  /** Most requests waiting; one more is refused with queue_full. */
  maxQueuedRequests: number;
  /** Most tokens waiting over all requests; a request alone above it can never run and is refused. */
  maxQueuedTokens?: number;
  /**
   * Batches handed to the backend at once. Two keep the engine busy: the next batch waits at the
   * engine while the previous one's responses go out and its clients send their next requests.
   */
  maxInFlight?: number;
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
  /** Real tokens run, and what the runs held with padding (sequences x longest, summed). */
  tokens: number;
  paddedTokens: number;
}

interface Group<TResult> {
  results: TResult[];
  remaining: number;
  /** Sequences already handed to a batch (fair anchoring reads it). */
  dispatched: number;
  settled: boolean;
  resolve: (results: TResult[]) => void;
  reject: (err: unknown) => void;
}

interface Entry<TItem, TResult> {
  item: TItem;
  length: number;
  /** performance.now() when queued: no entry waits for company longer than maxWaitMs. */
  queuedAt: number;
  slot: number;
  group: Group<TResult>;
}

/**
 * Padding-aware batch choice over pending lengths (oldest first): the anchor entry (by default
 * the oldest) always goes, so nothing starves; the batch then grows with the entries closest to
 * it in length, while sequences x longest stays within the token budget. Returns indices into
 * `lengths`.
 */
export function chooseBatch(lengths: readonly number[], limits: Pick<EncoderQueueLimits, 'maxBatchRequests' | 'maxBatchTokens'>, anchor = 0): number[] {
  if (lengths.length === 0) return [];
  const byLength = lengths.map((length, index) => ({ length, index })).sort((a, b) => a.length - b.length || a.index - b.index);
  let lo = byLength.findIndex((e) => e.index === anchor);
  let hi = lo;
  let shortest = lengths[anchor] as number;
  let longest = shortest;
  const fits = (count: number, max: number) => count <= limits.maxBatchRequests && count * max <= limits.maxBatchTokens;
  for (;;) {
    const count = hi - lo + 2;
    const left = byLength[lo - 1];
    const right = byLength[hi + 1];
    // Grow toward the neighbour that widens the length range least (ties: the older entry).
    const leftCost = left ? longest - left.length : Infinity;
    const rightCost = right ? right.length - shortest : Infinity;
    const goLeft = leftCost < rightCost || (leftCost === rightCost && left !== undefined && (right === undefined || left.index < right.index));
    const next = goLeft ? left : right;
    if (!next || !fits(count, Math.max(longest, next.length))) break;
    if (goLeft) lo--, (shortest = next.length);
    else hi++, (longest = next.length);
  }
  return byLength.slice(lo, hi + 1).map((e) => e.index).sort((a, b) => a - b);
}

export function createEncoderQueue<TItem, TResult>(
  limits: EncoderQueueLimits,
  runBatch: RunBatch<TItem, TResult>,
): EncoderQueue<TItem, TResult> {
  let pending: Array<Entry<TItem, TResult>> = [];
  let inFlight = 0;
  const maxInFlight = limits.maxInFlight ?? 2;
  let timer: NodeJS.Timeout | undefined;
  const stats: BatchStats = { runs: 0, sequences: 0, largestBatch: 0, tokens: 0, paddedTokens: 0 };

  /** Size of the last batch run: the batch an idle queue expects to gather again. */
  let expectedBatch = 1;

  const waitingGroups = () => new Set(pending.map((e) => e.group)).size;

  let pendingTokens = 0;

  /** The oldest pending entry of the request with the fewest sequences dispatched so far. */
  function fairAnchor(): number {
    let best = 0;
    for (let i = 1; i < pending.length; i++) {
      if ((pending[i] as Entry<TItem, TResult>).group.dispatched < (pending[best] as Entry<TItem, TResult>).group.dispatched) best = i;
    }
    return best;
  }

  function takeBatch(): Array<Entry<TItem, TResult>> {
    const chosen = chooseBatch(pending.map((e) => e.length), limits, fairAnchor());
    const picked = new Set(chosen);
    const batch = chosen.map((i) => pending[i] as Entry<TItem, TResult>);
    pending = pending.filter((_, i) => !picked.has(i));
    for (const entry of batch) {
      entry.group.dispatched++;
      pendingTokens -= entry.length;
    }
    return batch;
  }

  /** Removes a settled request's entries that have not reached a batch yet. */
  function dropPending(group: Group<TResult>): void {
    pending = pending.filter((e) => {
      if (e.group !== group) return true;
      pendingTokens -= e.length;
      return false;
    });
  }

  function batchIsReady(): boolean {
    if (pending.length >= Math.min(expectedBatch, limits.maxBatchRequests)) return true;
    const longest = pending.reduce((m, e) => Math.max(m, e.length), 0);
    return longest * pending.length >= limits.maxBatchTokens;
  }

  /**
   * Dispatch policy: a ready batch (as large as the last one, or at the token budget) goes at once,
   * into a free in-flight slot. A partial batch goes only to an idle engine, once its oldest
   * entry has waited maxWaitMs; until then more of the same wave may still arrive.
   */
  function schedule(): void {
    if (inFlight >= maxInFlight || pending.length === 0) return;
    clearTimeout(timer);
    timer = undefined;
    if (limits.maxWaitMs <= 0 || batchIsReady()) {
      void runNext();
      return;
    }
    if (inFlight > 0) return; // reconsidered when the running batch finishes
    const oldest = pending[0] as Entry<TItem, TResult>;
    const remaining = oldest.queuedAt + limits.maxWaitMs - performance.now();
    if (remaining <= 0) {
      void runNext();
      return;
    }
    timer = setTimeout(() => {
      timer = undefined;
      if (inFlight === 0) void runNext();
    }, remaining);
  }

  async function runNext(): Promise<void> {
    if (inFlight >= maxInFlight) return;
    const batch = takeBatch();
    if (batch.length === 0) return;
    inFlight++;
    expectedBatch = batch.length;
    stats.runs++;
    stats.sequences += batch.length;
    stats.largestBatch = Math.max(stats.largestBatch, batch.length);
    stats.tokens += batch.reduce((n, e) => n + e.length, 0);
    stats.paddedTokens += batch.length * Math.max(...batch.map((e) => e.length));
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
        dropPending(group);
        group.reject(err);
      }
    } finally {
      inFlight--;
      schedule();
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
      const tokens = items.reduce((n, i) => n + i.length, 0);
      const maxTokens = limits.maxQueuedTokens ?? Infinity;
      if (tokens > maxTokens) {
        return Promise.reject(
          new RuntimeError('invalid_request', `This request has ${tokens} tokens to encode; this model takes at most ${maxTokens} per request. Split it into smaller requests.`),
        );
      }
      if (pendingTokens + tokens > maxTokens) {
        return Promise.reject(
          new RuntimeError('queue_full', `The model's queue is full (${pendingTokens} tokens waiting); retry shortly.`, { retryAfterSeconds: 1 }),
        );
      }
      if (items.length === 0) return Promise.resolve([]);
      return new Promise<TResult[]>((resolve, reject) => {
        const group: Group<TResult> = { results: new Array(items.length), remaining: items.length, dispatched: 0, settled: false, resolve, reject };
        const onAbort = () => {
          if (group.settled) return;
          group.settled = true;
          // Drop this request's sequences that have not reached a backend run yet.
          dropPending(group);
          reject(new RuntimeError('cancelled', 'The request was cancelled by the client.'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const cleanup = () => signal?.removeEventListener('abort', onAbort);
        group.resolve = (r) => (cleanup(), resolve(r));
        group.reject = (e) => (cleanup(), reject(e));
        const queuedAt = performance.now();
        items.forEach(({ item, length }, slot) => pending.push({ item, length, queuedAt, slot, group }));
        pendingTokens += tokens;
        schedule();
      });
    },
    get queuedRequests() {
      return waitingGroups();
    },
    stats,
  };
}
