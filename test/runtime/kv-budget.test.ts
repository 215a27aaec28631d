// max_kv_tokens: sequences are admitted while rows x the longest row fits the budget; when their
// growth would exceed it, the newest are preempted (rows freed, recomputed later from their prompt
// and what they had generated) and complete with exactly the tokens they would have had; a request
// that alone needs more than the budget is refused at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../runtime/index.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

const PROMPT = Array.from({ length: 10 }, (_, t) => 10 + t);
const MAX_TOKENS = 30;
const BUDGET = 2 * (PROMPT.length + MAX_TOKENS) + 10;

describe('max_kv_tokens', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    const model = { fixture: 'tiny-chat' as const, task: 'text-generation' as const, max_running_sequences: 8 };
    // Room for two sequences of 10 prompt + 30 generated tokens, not three; and the same without a budget.
    runtime = createRuntime(fixtureConfig([{ ...model, name: 'budget', max_kv_tokens: BUDGET }, { ...model, name: 'free' }]), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const ask = (model: string, i: number, maxTokens = MAX_TOKENS) =>
    runtime.generate({ model, prompts: [{ tokens: PROMPT.map((t) => t + i) }], n: 1, maxTokens, temperature: i % 2 === 0 ? 0 : 0.9, seed: i, ignoreEos: true });

  it('stays within the budget by preempting the newest; every sequence completes with its own tokens', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => collect(ask('budget', i))));
    const stats = runtime.generationStats('budget');
    expect(stats.preemptions).toBeGreaterThan(0);
    expect(stats.peakKvTokens).toBeLessThanOrEqual(BUDGET);
    // More than two ran together while they were short: admission counts what rows hold, not what they may come to hold.
    expect(stats.largestDecodeBatch).toBeGreaterThan(2);
    const unbounded = await Promise.all(Array.from({ length: 5 }, (_, i) => collect(ask('free', i))));
    results.forEach((r, i) => {
      expect(r.ids[0]).toHaveLength(MAX_TOKENS);
      expect(r.ids[0]).toEqual(unbounded[i]!.ids[0]);
    });
    expect(runtime.generationStats('free').preemptions).toBe(0);
  });

  it('refuses a request that alone needs more than the budget, naming max_tokens', async () => {
    await expect(ask('budget', 0, 200)).rejects.toMatchObject({ kind: 'invalid_request', param: 'max_tokens' });
  });
});
