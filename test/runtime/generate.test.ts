import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type GenerateRequest, type Runtime } from '../../runtime/index.ts';
import { fixtureConfig, useEditedFixture } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

const EOS = 2; // <|im_end|>

describe('text generation on the tiny Llama fixture', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    runtime = createRuntime(
      fixtureConfig([
        { fixture: 'tiny-chat', task: 'text-generation', name: 'chat' },
        { fixture: 'tiny-chat', task: 'text-generation', name: 'single', max_running_sequences: 1, max_queued_sequences: 1 },
      ]),
      { log: () => {} },
    );
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const base: GenerateRequest = { model: 'chat', prompts: [{ text: 'The capital of France is' }], n: 1, maxTokens: 16 };
  const run = (r: Partial<GenerateRequest>) => collect(runtime.generate({ ...base, ...r }));

  it('is reproducible with a seed, alone and among 7 other requests', async () => {
    const seeded = { temperature: 0.9, topP: 0.95, seed: 1234, maxTokens: 20 };
    const alone = await run(seeded);
    const others = Array.from({ length: 7 }, (_, i) => run({ temperature: 1, seed: i, prompts: [{ text: `noise ${i}` }] }));
    const [together] = await Promise.all([run(seeded), ...others]);
    expect(together!.ids[0]).toEqual(alone.ids[0]);
    expect((await run({ ...seeded, seed: 99 })).ids[0]).not.toEqual(alone.ids[0]);
  });

  it('n gives independent choices, each with its own finish', async () => {
    const out = await run({ n: 3, temperature: 1, seed: 5, maxTokens: 8 });
    expect(out.ids).toHaveLength(3);
    expect(new Set(out.ids.map((ids) => ids.join(','))).size).toBeGreaterThan(1);
    expect(out.finish).toEqual(['length', 'length', 'length']);
  });

  it('max_tokens ends with finish_reason length after exactly that many tokens', async () => {
    const out = await run({ maxTokens: 5, temperature: 0 });
    expect(out.ids[0]).toHaveLength(5);
    expect(out.finish[0]).toBe('length');
  });

  it('eos ends with finish_reason stop and adds no text; ignore_eos goes on', async () => {
    const stopped = await run({ logitBias: { [EOS]: 100 }, temperature: 0 });
    expect(stopped.ids[0]).toEqual([EOS]);
    expect(stopped.text[0]).toBe('');
    expect(stopped.finish[0]).toBe('stop');
    const ignored = await run({ logitBias: { [EOS]: 100 }, temperature: 0, ignoreEos: true, maxTokens: 4 });
    expect(ignored.ids[0]).toEqual([EOS, EOS, EOS, EOS]);
    expect(ignored.finish[0]).toBe('length');
  });

  it('a stop string cuts the text before it and finishes with stop', async () => {
    const full = await run({ temperature: 0, maxTokens: 24 });
    const text = full.text[0]!;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 4);
    const cut = await run({ temperature: 0, maxTokens: 24, stop: [stop] });
    expect(cut.text[0]).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.finish[0]).toBe('stop');
  });

  it('best_of returns the candidate with the highest log-probability', async () => {
    const candidates = await run({ n: 3, temperature: 1, seed: 77, maxTokens: 6, logprobs: 0 });
    const sums = candidates.logprobs.map((lp) => lp.reduce((a, b) => a + b, 0));
    const best = sums.indexOf(Math.max(...sums));
    const chosen = await run({ n: 1, bestOf: 3, temperature: 1, seed: 77, maxTokens: 6 });
    expect(chosen.ids).toEqual([candidates.ids[best]]);
  });

  it('reports log-probabilities of the chosen token and its alternatives', async () => {
    const g = await runtime.generate({ ...base, temperature: 0, maxTokens: 3, logprobs: 2 });
    for await (const e of g) {
      if (e.type !== 'delta') continue;
      const [t] = e.tokens!;
      expect(t!.top).toHaveLength(2);
      expect(t!.logprob).toBeLessThanOrEqual(0);
      expect(t!.logprob).toBeCloseTo(t!.top[0]!.logprob, 5); // greedy picks the most likely
    }
  });

  it('echo puts the prompt in front of the output', async () => {
    const out = await run({ echo: true, maxTokens: 3, temperature: 0 });
    expect(out.text[0]!.startsWith('The capital of France is')).toBe(true);
  });

  it('refuses a prompt plus max_tokens beyond the context, naming both numbers', async () => {
    await expect(runtime.generate({ ...base, maxTokens: 5000 })).rejects.toThrow(/maximum context length is 1024 tokens; the prompt has 5 tokens plus 5000/);
    await expect(runtime.generate({ ...base, prompts: [{ tokens: Array(1024).fill(5) }] })).rejects.toThrow(/context length/);
    await expect(runtime.generate({ ...base, prompts: [{ tokens: [99999] }] })).rejects.toThrow(/outside the vocabulary/);
    await expect(runtime.generate({ ...base, logitBias: { 99999: 1 } })).rejects.toThrow(/logit_bias/);
  });

  it('a cancelled request leaves the batch within a step and frees its slot; others finish', async () => {
    const controller = new AbortController();
    const long = await runtime.generate({ ...base, maxTokens: 500, ignoreEos: true, signal: controller.signal });
    const other = run({ temperature: 0, maxTokens: 12 });
    let steps = 0;
    const consumed = (async () => {
      for await (const e of long) if (e.type === 'delta' && ++steps === 3) controller.abort();
    })();
    await expect(consumed).rejects.toMatchObject({ kind: 'cancelled' });
    expect((await other).ids[0]).toHaveLength(12);
    await new Promise((r) => setTimeout(r, 50));
    expect(runtime.generationStats('chat').running).toBe(0);
    expect(steps).toBeLessThan(10);
  });

  it('answers queue_full at once when the waiting queue is at its limit, and completes the accepted', async () => {
    const long = { model: 'single', prompts: [{ text: 'x' }], n: 1, maxTokens: 400, ignoreEos: true } satisfies GenerateRequest;
    const started = [await runtime.generate(long), await runtime.generate(long)];
    const [a, b] = started.map(collect);
    // The first is admitted at once (its prefill starts), the second waits; the next is refused.
    expect(runtime.generationStats('single').waiting).toBe(1);
    await expect(runtime.generate(long)).rejects.toThrow(expect.objectContaining({ kind: 'queue_full', retryAfterSeconds: 1 }));
    expect((await a!).ids[0]).toHaveLength(400);
    expect((await b!).ids[0]).toHaveLength(400);
  });
});

describe('defaults from generation_config.json', () => {
  const runtime = useEditedFixture('tiny-chat', 'text-generation', (dir) =>
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 2, do_sample: false, max_new_tokens: 7 })),
  );

  it('do_sample false makes requests without a temperature greedy; max_new_tokens bounds them', async () => {
    const ask = (extra: Partial<GenerateRequest> = {}) => collect(runtime().generate({ model: 'm', prompts: [{ text: 'The capital' }], n: 1, ...extra }));
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.ids[0]).toHaveLength(7);
    expect(b.ids[0]).toEqual(a.ids[0]);
    expect((await ask({ temperature: 0 })).ids[0]).toEqual(a.ids[0]);
    // The request's own values win.
    expect((await ask({ maxTokens: 3 })).ids[0]).toHaveLength(3);
    const sampled = await Promise.all([1, 2, 3].map((seed) => ask({ temperature: 1.5, seed })));
    expect(new Set(sampled.map((r) => r.ids[0]!.join(','))).size).toBeGreaterThan(1);
  });
});

describe('a model without a chat template', () => {
  const runtime = useEditedFixture('tiny-chat', 'text-generation', (dir) => {
    const configFile = join(dir, 'tokenizer_config.json');
    const { chat_template: _, ...rest } = JSON.parse(readFileSync(configFile, 'utf8'));
    writeFileSync(configFile, JSON.stringify(rest));
  });

  it('serves completions, and answers chat with a clear 400-kind error', async () => {
    expect((await collect(runtime().generate({ model: 'm', prompts: [{ text: 'hi' }], n: 1, maxTokens: 2 }))).ids[0]).toHaveLength(2);
    await expect(runtime().generate({ model: 'm', prompts: [{ messages: [{ role: 'user', content: 'hi' }] }], n: 1 })).rejects.toThrow(
      expect.objectContaining({ kind: 'invalid_request', param: 'messages', message: expect.stringMatching(/no chat template/) }),
    );
  });
});
