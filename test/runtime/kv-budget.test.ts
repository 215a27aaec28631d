// max_kv_tokens: the scheduler admits sequences only while running rows x the longest reservation
// (prompt + max_tokens) fits the budget, and refuses a request that alone does not fit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../runtime/index.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

const PROMPT = Array.from({ length: 10 }, (_, t) => 10 + t);
const MAX_TOKENS = 30;

describe('max_kv_tokens', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    // Room for two sequences of 10 prompt + 30 generated tokens, not three.
    runtime = createRuntime(fixtureConfig([{ fixture: 'tiny-chat', task: 'text-generation', max_running_sequences: 8, max_kv_tokens: 2 * (PROMPT.length + MAX_TOKENS) + 10 }]), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const ask = (maxTokens = MAX_TOKENS) => runtime.generate({ model: 'tiny-chat', prompts: [{ tokens: PROMPT }], n: 1, maxTokens, temperature: 0, ignoreEos: true });

  it('runs at most as many sequences together as the budget holds; the rest wait and complete', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => collect(ask())));
    for (const r of results) expect(r.ids[0]).toHaveLength(MAX_TOKENS);
    expect(runtime.generationStats('tiny-chat').largestDecodeBatch).toBe(2);
  });

  it('refuses a request that alone needs more than the budget, naming max_tokens', async () => {
    await expect(ask(200)).rejects.toMatchObject({ kind: 'invalid_request', param: 'max_tokens' });
  });
});
