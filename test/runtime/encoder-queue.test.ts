import { describe, expect, it } from 'vitest';
import { chooseBatch, createEncoderQueue, type EncoderQueueLimits } from '../../runtime/batching/encoder-queue.ts';
import { RuntimeError } from '../../runtime/index.ts';

// One batch in flight unless a test says otherwise: the gathering behaviour is easiest to see.
const limits: EncoderQueueLimits = { maxBatchRequests: 8, maxBatchTokens: 64, maxWaitMs: 0, maxQueuedRequests: 100, maxInFlight: 1 };

/** A batch runner whose runs finish only when the test says so. */
function controllableRunner() {
  const runs: string[][] = [];
  const finish: Array<() => void> = [];
  const run = (items: string[]) => {
    runs.push(items);
    return new Promise<string[]>((resolve) => finish.push(() => resolve(items.map((s) => s.toUpperCase()))));
  };
  return { runs, finish, run };
}

const tick = () => new Promise((r) => setImmediate(r));
/** Waits for a condition (never a timing assertion: the deadline only bounds a failing test). */
async function until(condition: () => boolean, deadlineMs = 5000) {
  const deadline = Date.now() + deadlineMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
}

describe('encoder queue', () => {
  it('counts real and padded tokens per run (the padding ratio metric reads them)', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue(limits, r.run);
    const first = q.submit([{ item: 'a', length: 4 }]);
    await tick();
    const second = q.submit([{ item: 'b', length: 2 }, { item: 'c', length: 10 }]);
    await tick();
    r.finish[0]?.();
    await first;
    await until(() => r.runs.length === 2);
    r.finish[1]?.();
    await second;
    // Run 1: 4 real of 4; run 2: 12 real of 2 x 10.
    expect(q.stats).toMatchObject({ runs: 2, sequences: 3, tokens: 16, paddedTokens: 24 });
  });

  it('gathers requests that arrive during a run into the next batch, results split back in order', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue(limits, r.run);
    const first = q.submit([{ item: 'a', length: 2 }]);
    await tick();
    const second = q.submit([{ item: 'b', length: 2 }, { item: 'c', length: 3 }]);
    const third = q.submit([{ item: 'd', length: 1 }]);
    await tick();
    expect(r.runs).toEqual([['a']]);
    r.finish[0]?.();
    await expect(first).resolves.toEqual(['A']);
    await tick();
    expect(r.runs[1]).toEqual(['b', 'c', 'd']);
    r.finish[1]?.();
    await expect(second).resolves.toEqual(['B', 'C']);
    await expect(third).resolves.toEqual(['D']);
    expect(q.stats).toMatchObject({ runs: 2, sequences: 4, largestBatch: 3 });
  });

  it('keeps padded tokens within the budget and the sequence cap', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue({ ...limits, maxBatchTokens: 20, maxBatchRequests: 3 }, r.run);
    const blocker = q.submit([{ item: 'x', length: 1 }]);
    await tick();
    // 4 sequences of length 6: 3 fit the cap but 3 x 6 = 18 <= 20; the fourth waits.
    const all = q.submit(['p', 'q', 'r', 's'].map((item) => ({ item, length: 6 })));
    await tick();
    r.finish[0]?.();
    await blocker;
    await tick();
    expect(r.runs[1]).toEqual(['p', 'q', 'r']);
    r.finish[1]?.();
    await tick();
    await tick();
    expect(r.runs[2]).toEqual(['s']);
    r.finish[2]?.();
    await expect(all).resolves.toEqual(['P', 'Q', 'R', 'S']);
  });

  it('drops a cancelled request before it reaches a run', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue(limits, r.run);
    const blocker = q.submit([{ item: 'x', length: 1 }]);
    await tick();
    const controller = new AbortController();
    const gone = q.submit([{ item: 'gone', length: 1 }], controller.signal);
    const kept = q.submit([{ item: 'kept', length: 1 }]);
    controller.abort();
    await expect(gone).rejects.toMatchObject({ kind: 'cancelled' });
    r.finish[0]?.();
    await blocker;
    await tick();
    expect(r.runs[1]).toEqual(['kept']);
    r.finish[1]?.();
    await expect(kept).resolves.toEqual(['KEPT']);
  });

  it('answers queue_full at once when the queue is at its limit, and loses nothing it accepted', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue({ ...limits, maxQueuedRequests: 2 }, r.run);
    const running = q.submit([{ item: 'a', length: 1 }]);
    await tick(); // 'a' is now running, not queued
    const waiting = [q.submit([{ item: 'b', length: 1 }]), q.submit([{ item: 'c', length: 1 }])];
    const refused = q.submit([{ item: 'd', length: 1 }]);
    await expect(refused).rejects.toBeInstanceOf(RuntimeError);
    await expect(refused).rejects.toMatchObject({ kind: 'queue_full', retryAfterSeconds: 1 });
    r.finish[0]?.();
    await tick();
    r.finish[1]?.();
    expect(await running).toEqual(['A']);
    expect(await Promise.all(waiting)).toEqual([['B'], ['C']]);
  });

  it('waits up to maxWaitMs on an idle queue so that near-simultaneous requests share a run', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue({ ...limits, maxWaitMs: 20 }, r.run);
    // The first batch teaches the queue that the load brings three at a time.
    const first = q.submit(['x', 'y', 'z'].map((item) => ({ item, length: 1 })));
    await until(() => r.runs.length === 1);
    r.finish[0]?.();
    await first;
    const a = q.submit([{ item: 'a', length: 1 }]);
    await tick();
    const b = q.submit([{ item: 'b', length: 1 }]);
    await tick();
    expect(r.runs).toHaveLength(1); // a and b wait for the third of their wave...
    await until(() => r.runs.length === 2);
    expect(r.runs[1]).toEqual(['a', 'b']); // ...until maxWaitMs runs out, then go without it
    r.finish[1]?.();
    expect([await a, await b]).toEqual([['A'], ['B']]);
  });

  it('dispatches at once, without waiting, when the batch reaches the size of the last one', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue({ ...limits, maxWaitMs: 10_000 }, r.run);
    const first = q.submit([{ item: 'x', length: 1 }, { item: 'y', length: 1 }]);
    await tick(); // this first batch teaches the queue that the load brings two at a time
    r.finish[0]?.();
    await first;
    const a = q.submit([{ item: 'a', length: 1 }]);
    const b = q.submit([{ item: 'b', length: 1 }]);
    await tick();
    expect(r.runs[1]).toEqual(['a', 'b']); // two arrived, as last time: no 10 s wait
    r.finish[1]?.();
    await Promise.all([a, b]);
  });

  it('keeps a second, full batch waiting at the engine while the first runs', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue({ ...limits, maxInFlight: 2, maxWaitMs: 5 }, r.run);
    const first = q.submit([{ item: 'a', length: 1 }, { item: 'b', length: 1 }]);
    await until(() => r.runs.length === 1);
    expect(r.runs).toEqual([['a', 'b']]);
    const partial = q.submit([{ item: 'c', length: 1 }]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(r.runs).toHaveLength(1); // a partial batch does not take the second slot
    const rest = q.submit([{ item: 'd', length: 1 }]);
    await tick();
    expect(r.runs[1]).toEqual(['c', 'd']); // a full one does, while the first still runs
    r.finish[0]?.();
    r.finish[1]?.();
    expect([await first, await partial, await rest]).toEqual([['A', 'B'], ['C'], ['D']]);
  });

  it('rejects every request of a failed run and keeps serving', async () => {
    let fail = true;
    const q = createEncoderQueue(limits, async (items: string[]) => {
      if (fail) throw new Error('backend exploded');
      return items;
    });
    await expect(q.submit([{ item: 'a', length: 1 }])).rejects.toThrow('backend exploded');
    fail = false;
    await expect(q.submit([{ item: 'b', length: 1 }])).resolves.toEqual(['b']);
  });
});

describe('padding-aware batch choice', () => {
  const limits = { maxBatchRequests: 4, maxBatchTokens: 1000 };
  const padded = (lengths: number[], chosen: number[]) => chosen.length * Math.max(...chosen.map((i) => lengths[i]!));

  it('always takes the oldest entry and fills with the nearest lengths', () => {
    const lengths = [10, 500, 12, 480, 11, 9, 510];
    const chosen = chooseBatch(lengths, limits);
    expect(chosen).toContain(0);
    expect(chosen).toEqual([0, 2, 4, 5]); // the short ones, not the 500-token ones
    expect(padded(lengths, chosen)).toBe(48);
  });

  it('groups the long ones when the oldest is long', () => {
    // 3 x 510 fits a 2000-token budget; adding a short one would make 4 x 510.
    expect(chooseBatch([500, 10, 480, 12, 510], { ...limits, maxBatchTokens: 2000 })).toEqual([0, 2, 4]);
  });

  it('keeps sequences x longest within the token budget and the count within the cap', () => {
    const lengths = [300, 300, 300, 300, 300];
    expect(chooseBatch(lengths, { maxBatchRequests: 8, maxBatchTokens: 1000 })).toEqual([0, 1, 2]);
    expect(chooseBatch(lengths, { maxBatchRequests: 2, maxBatchTokens: 10_000 })).toEqual([0, 1]);
    // A single entry over budget still goes alone: nothing is refused for its size here.
    expect(chooseBatch([5000, 3], limits)).toEqual([0]);
  });

  it('equal lengths batch oldest first', () => {
    expect(chooseBatch([16, 16, 16, 16, 16, 16], limits)).toEqual([0, 1, 2, 3]);
  });
});

describe('encoder queue admission counts work', () => {
  it('refuses a request with more tokens than the queue holds (400-kind), and one that would overflow it (429)', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue({ ...limits, maxQueuedTokens: 10 }, r.run);
    await expect(q.submit([{ item: 'x', length: 11 }])).rejects.toMatchObject({ kind: 'invalid_request' });
    const running = q.submit([{ item: 'a', length: 2 }]); // dispatched at once: no longer waiting
    await tick();
    const waiting = q.submit([{ item: 'b', length: 6 }]);
    await expect(q.submit([{ item: 'c', length: 5 }])).rejects.toMatchObject({ kind: 'queue_full', retryAfterSeconds: 1 });
    const fits = q.submit([{ item: 'd', length: 4 }]);
    r.finish[0]?.();
    await until(() => r.finish.length === 2);
    r.finish[1]?.();
    await expect(Promise.all([running, waiting, fits])).resolves.toEqual([['A'], ['B'], ['D']]);
  });

  it('a small request is not starved by a large one queued before it', async () => {
    const r = controllableRunner();
    const q = createEncoderQueue({ ...limits, maxBatchRequests: 4, maxBatchTokens: 1000 }, r.run);
    let largeDone = false;
    const large = q.submit(Array.from({ length: 40 }, (_, i) => ({ item: `l${i}`, length: 5 }))).then((v) => ((largeDone = true), v));
    await tick();
    const small = q.submit([{ item: 's', length: 5 }]);
    let smallDone = false;
    void small.then(() => (smallDone = true));
    // Run batches one by one until the small request is answered.
    for (let run = 0; !smallDone && run < 20; run++) {
      await until(() => r.finish.length > run);
      r.finish[run]?.();
      await tick();
      await tick();
    }
    expect(smallDone).toBe(true);
    expect(largeDone).toBe(false);
    // The batch after the first holds the small request: it was anchored on the request served least.
    expect(r.runs.findIndex((batch) => batch.includes('s'))).toBe(1);
    for (let run = 0; run < r.finish.length; run++) r.finish[run]?.();
    for (let i = 0; !largeDone && i < 50; i++) {
      await tick();
      r.finish.forEach((f) => f());
    }
    await expect(large).resolves.toHaveLength(40);
  });
});
