// The scheduler's policies on the tiny Llama fixture (fused, KV owned by the runtime): chunked
// prefill, the prefix cache and prompt-lookup speculation each give exactly the tokens of plain
// scheduling (greedy and seeded), and the scheduler's stats (not timings) show they happened.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type GenerateRequest, type Runtime } from '../../runtime/index.ts';
import { FLOWING_AFTER } from '../../runtime/batching/step-budget.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

const LONG = Array.from({ length: 300 }, (_, t) => 20 + ((t * 53) % 1400));
const SHARED = Array.from({ length: 100 }, (_, t) => 30 + ((t * 97) % 1300));
/** A prompt that repeats itself, as code edits do: prompt lookup finds continuations in it. */
const REPETITIVE = Array.from({ length: 120 }, (_, t) => 40 + (t % 24));

describe('scheduling policies', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    const model = { fixture: 'tiny-chat' as const, task: 'text-generation' as const };
    runtime = createRuntime(
      fixtureConfig([
        { ...model, name: 'plain', max_step_tokens: 100_000, prefix_cache_tokens: 0 },
        { ...model, name: 'chunked', max_step_tokens: 16, prefix_cache_tokens: 0 },
        { ...model, name: 'cached', max_step_tokens: 100_000, prefix_cache_tokens: 4096 },
        { ...model, name: 'speculative', max_step_tokens: 100_000, prefix_cache_tokens: 0, num_assistant_tokens: 5 },
      ]),
      { log: () => {} },
    );
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const ask = (model: string, tokens: number[], extra: Partial<GenerateRequest> = {}) =>
    runtime.generate({ model, prompts: [{ tokens }], n: 1, maxTokens: 24, temperature: 0, ignoreEos: true, ...extra });
  const ids = async (model: string, tokens: number[], extra: Partial<GenerateRequest> = {}) => (await collect(ask(model, tokens, extra))).ids;
  const seeded = { temperature: 0.8, topP: 0.9, seed: 77 };

  /**
   * A stream on `model` read in the background; resolves once it has `tokens` tokens (a stream
   * flows after FLOWING_AFTER), with `received()` its count so far and `done` its end.
   */
  async function runner(model: string, maxTokens: number, tokens = FLOWING_AFTER) {
    const generation = await ask(model, SHARED.slice(0, 10), { maxTokens });
    let received = 0;
    const done = (async () => {
      for await (const e of generation) if (e.type === 'delta') received += e.tokenIds.length;
    })();
    while (received < tokens) await new Promise((r) => setImmediate(r));
    return { received: () => received, done };
  }

  describe('chunked prefill', () => {
    it('a long prompt fed in chunks beside a running stream gives the tokens of one prefill, greedy and seeded', async () => {
      for (const extra of [{}, seeded]) {
        const { chunks: before, sharedChunks: sharedBefore } = runtime.generationStats('chunked');
        const timedBefore = runtime.generationStats('chunked').seconds.decodeWithChunk;
        const stream = await runner('chunked', 120);
        const chunked = await ids('chunked', LONG, extra);
        await stream.done;
        expect(chunked).toEqual(await ids('plain', LONG, extra));
        // 300 tokens at 16 a step, one of them the runner's decode: about 20 runs (whole, it would be none).
        const { chunks, sharedChunks } = runtime.generationStats('chunked');
        expect(chunks - before).toBeGreaterThanOrEqual(15);
        // While the runner decodes, each chunk rides in its decode run (the prompt joined as an empty row).
        expect(sharedChunks - sharedBefore).toBeGreaterThanOrEqual(15);
        // Those runs are timed apart from plain decode runs (what /metrics' engine_run_seconds_total reads).
        expect(runtime.generationStats('chunked').seconds.decodeWithChunk).toBeGreaterThan(timedBefore);
      }
    });

    it('behind a stream that has only just started, a long prompt is fed whole: no stream flows yet', async () => {
      const before = runtime.generationStats('chunked').chunks;
      const stream = await runner('chunked', 60, 1);
      expect(await ids('chunked', LONG)).toEqual(await ids('plain', LONG));
      await stream.done;
      // One run at most (the whole prompt riding in the young stream's decode), not 20 chunks.
      expect(runtime.generationStats('chunked').chunks - before).toBeLessThanOrEqual(1);
    });

    it('with nothing decoding, a long prompt prefills whole: there is no stream to keep flowing', async () => {
      const before = runtime.generationStats('chunked').chunks;
      expect(await ids('chunked', LONG)).toEqual(await ids('plain', LONG));
      expect(runtime.generationStats('chunked').chunks).toBe(before);
    });

    it('a flowing stream keeps getting tokens while a long prompt is prefilled', async () => {
      /** Tokens the first stream got after the newcomer was submitted and before its first token. */
      async function overlap(model: string): Promise<number> {
        const stream = await runner(model, 200);
        const before = stream.received();
        let during: number | undefined;
        for await (const e of await ask(model, LONG, { maxTokens: 4 })) {
          if (e.type === 'delta' && e.tokenIds.length > 0) during ??= stream.received() - before;
        }
        await stream.done;
        return during ?? 0;
      }
      // Whole, the prompt runs in one step: the stream gets at most that step's token meanwhile.
      expect(await overlap('plain')).toBeLessThanOrEqual(2);
      // In chunks of 16, it gets a token with every chunk.
      expect(await overlap('chunked')).toBeGreaterThanOrEqual(15);
    });
  });

  describe('prefix cache', () => {
    it('a repeated prompt reuses its cached blocks and gives the same tokens, greedy and seeded', async () => {
      for (const extra of [{}, seeded]) {
        const suffix = extra === seeded ? [7, 8, 9] : [4, 5, 6];
        const prompt = [...SHARED, ...suffix];
        const reference = await ids('plain', prompt, extra);
        const cold = await collect(ask('cached', prompt, extra));
        const before = runtime.generationStats('cached').cachedTokens;
        const warm = await ask('cached', prompt, extra);
        const warmIds = (await collect(warm)).ids;
        expect(cold.ids).toEqual(reference);
        expect(warmIds).toEqual(reference);
        // 103 tokens: 6 whole blocks of 16 are kept; the rest is computed.
        expect(warm.cachedTokens()).toBe(96);
        expect(runtime.generationStats('cached').cachedTokens - before).toBe(96);
      }
    });

    it('a prompt that shares only a prefix reuses that prefix', async () => {
      await collect(ask('cached', [...SHARED.slice(0, 40), 1, 2, 3]));
      const other = await ask('cached', [...SHARED.slice(0, 40), 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
      const got = (await collect(other)).ids;
      expect(other.cachedTokens()).toBe(32);
      expect(got).toEqual(await ids('plain', [...SHARED.slice(0, 40), 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]));
    });

    it('reports nothing cached for a prompt it has not seen, and n choices see the same tokens as without a cache', async () => {
      const fresh = Array.from({ length: 50 }, (_, t) => 1000 + t);
      const many = await ask('cached', fresh, { n: 3, ...seeded });
      const got = (await collect(many)).ids;
      expect(many.cachedTokens()).toBe(0);
      expect(got).toEqual(await ids('plain', fresh, { n: 3, ...seeded }));
    });
  });

  describe('prompt-lookup speculation', () => {
    it('gives exactly the tokens of plain decoding, greedy and seeded, accepting proposals on a repetitive prompt', async () => {
      const before = { ...runtime.generationStats('speculative') };
      for (const extra of [{}, seeded]) expect(await ids('speculative', REPETITIVE, { maxTokens: 48, ...extra })).toEqual(await ids('plain', REPETITIVE, { maxTokens: 48, ...extra }));
      const after = runtime.generationStats('speculative');
      expect(after.proposedTokens - before.proposedTokens).toBeGreaterThan(0);
      expect(after.acceptedTokens - before.acceptedTokens).toBeGreaterThan(0);
      // Accepted proposals are tokens that needed no step of their own.
      expect(after.steps - before.steps).toBeLessThan(2 * 48);
    });

    it('is per request: num_assistant_tokens 0 turns it off, and a request may turn it on', async () => {
      const before = runtime.generationStats('speculative').proposedTokens;
      await collect(ask('speculative', REPETITIVE, { promptLookup: { tokens: 0 } }));
      expect(runtime.generationStats('speculative').proposedTokens).toBe(before);
      const plainBefore = runtime.generationStats('plain').proposedTokens;
      const asked = await ids('plain', REPETITIVE, { promptLookup: { tokens: 3, maxNgram: 2 }, maxTokens: 32 });
      expect(runtime.generationStats('plain').proposedTokens).toBeGreaterThan(plainBefore);
      expect(asked).toEqual(await ids('plain', REPETITIVE, { maxTokens: 32 }));
    });

    it('keeps output identical among other sequences in the batch', async () => {
      const alone = await ids('plain', REPETITIVE, { maxTokens: 40 });
      const others = Array.from({ length: 5 }, (_, i) => ids('speculative', SHARED.slice(i, i + 30), { maxTokens: 30, ...seeded }));
      const [together] = await Promise.all([ids('speculative', REPETITIVE, { maxTokens: 40 }), ...others]);
      expect(together).toEqual(alone);
    });
  });
});
