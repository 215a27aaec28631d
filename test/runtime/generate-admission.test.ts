// Generation admission counts sequences, not requests: bursts fill every configured slot, a
// request asking for more than its share is refused, and a large request cannot starve a small one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type GenerateRequest, type Runtime } from '../../runtime/index.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

describe('generation admission', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    runtime = createRuntime(
      fixtureConfig([
        { fixture: 'tiny-chat', task: 'text-generation', name: 'burst', max_running_sequences: 4, max_queued_sequences: 4 },
        { fixture: 'tiny-chat', task: 'text-generation', name: 'fair', max_running_sequences: 2 },
        { fixture: 'tiny-chat', task: 'text-generation', name: 'capped', max_sequences_per_request: 6 },
      ]),
      { log: () => {} },
    );
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const request = (model: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
    model,
    prompts: [{ text: 'hello' }],
    n: 1,
    maxTokens: 40,
    ignoreEos: true,
    temperature: 0,
    ...extra,
  });

  it('a burst fills every running slot and every queue place: 4 + 4 of 32 admitted, the rest 429 at once', async () => {
    const results = await Promise.allSettled(Array.from({ length: 32 }, () => runtime.generate(request('burst'))));
    const admitted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(admitted).toHaveLength(8);
    expect(refused.every((r) => r.reason.kind === 'queue_full' && r.reason.retryAfterSeconds === 1)).toBe(true);
    const outputs = await Promise.all(admitted.map((r) => collect((r as PromiseFulfilledResult<Awaited<ReturnType<Runtime['generate']>>>).value)));
    for (const out of outputs) expect(out.ids[0]).toHaveLength(40);
  });

  it('counts a request by its sequences: one asking for more than fits waits for nothing and gets 429', async () => {
    const big = await runtime.generate(request('burst', { n: 8 })); // 4 slots + 4 queue places
    await expect(runtime.generate(request('burst'))).rejects.toMatchObject({ kind: 'queue_full' });
    expect((await collect(big)).ids.every((ids) => ids.length === 40)).toBe(true);
  });

  it('refuses more sequences than max_sequences_per_request before any work, naming n or best_of', async () => {
    await expect(runtime.generate(request('capped', { n: 7 }))).rejects.toMatchObject({ kind: 'invalid_request', param: 'n' });
    await expect(runtime.generate(request('capped', { prompts: [{ text: 'a' }, { text: 'b' }, { text: 'c' }], n: 3 }))).rejects.toMatchObject({
      kind: 'invalid_request',
      message: expect.stringMatching(/9 sequences \(3 prompt\(s\) x 3\).*at most 6/),
    });
    await expect(runtime.generate(request('capped', { n: 2, bestOf: 7 }))).rejects.toMatchObject({ kind: 'invalid_request', param: 'bestOf' });
    expect((await collect(runtime.generate(request('capped', { n: 6, maxTokens: 2 })))).ids).toHaveLength(6);
  });

  it('a small request behind a 16-choice one gets the next free slot, not the 17th', async () => {
    const large = await runtime.generate(request('fair', { n: 16, maxTokens: 30 }));
    const small = await runtime.generate(request('fair', { maxTokens: 5 }));
    const largeOut = collect(large);
    await collect(small);
    // The first slot to free went to the small request: the large one had at most 2 rounds of 2 done.
    expect(large.completionTokens()).toBeLessThanOrEqual(4 * 30);
    expect((await largeOut).ids.every((ids) => ids.length === 30)).toBe(true);
  });
});
