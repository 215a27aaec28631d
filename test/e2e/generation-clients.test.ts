// The official openai client, unchanged, against a listening server on the tiny Llama fixture;
// every response and chunk validated against the OpenAPI spec.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { readSse } from '../helpers/sse.ts';
import { startServer } from '../helpers/server.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

const messages = [{ role: 'user' as const, content: 'What is the capital of France?' }];
const expectSpec = (schema: string, value: unknown) => {
  if (specsAvailable) expect(specErrors('openai', schema, value)).toEqual([]);
};

describe('openai client against a listening server (generation)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let client: OpenAI;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([
      { fixture: 'tiny-chat', task: 'text-generation', name: 'tiny-chat' },
      { fixture: 'tiny-chat', task: 'text-generation', name: 'one-at-a-time', max_running_sequences: 1, max_queued_sequences: 1 },
    ]));
    client = new OpenAI({ baseURL: `${server.url}/v3`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('chat, unary: content, usage and finish_reason length at max_tokens', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 6, temperature: 0 });
    expectSpec('CreateChatCompletionResponse', r);
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(6);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + 6);
    expect(typeof r.choices[0]!.message.content).toBe('string');
  });

  it('chat, streamed with for await: deltas join to the unary text, usage chunk when asked', async () => {
    const unary = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 12, temperature: 0 });
    const stream = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage = null;
    for await (const chunk of stream) {
      expectSpec('CreateChatCompletionStreamResponse', chunk);
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(unary.choices[0]!.message.content);
    expect(finish).toBe('length');
    expect(usage).toEqual(unary.usage);
  });

  it('chat, n: 2 streamed: every choice index gets its own text and finish', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 5, n: 2, seed: 3, stream: true });
    const finishes = new Map<number, string>();
    for await (const chunk of stream) for (const c of chunk.choices) if (c.finish_reason) finishes.set(c.index, c.finish_reason);
    expect([...finishes.entries()].sort()).toEqual([[0, 'length'], [1, 'length']]);
  });

  it('a repeated system prompt is served from the prefix cache: usage.prompt_tokens_details.cached_tokens, same text', async () => {
    const system = { role: 'system' as const, content: 'You are a terse assistant for a lighthouse keeper. '.repeat(6) };
    const ask = (content: string) => client.chat.completions.create({ model: 'tiny-chat', messages: [system, { role: 'user', content }], max_tokens: 8, temperature: 0 });
    const cold = await ask('Is the lamp lit?');
    const warm = await ask('Is the lamp lit?');
    const other = await ask('How is the weather at sea?');
    for (const r of [cold, warm, other]) expectSpec('CreateChatCompletionResponse', r);
    expect(cold.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    expect(warm.choices[0]!.message.content).toBe(cold.choices[0]!.message.content);
    // Whole blocks of 16 tokens, at least one token left to compute.
    expect(warm.usage!.prompt_tokens_details!.cached_tokens).toBe(Math.floor((warm.usage!.prompt_tokens - 1) / 16) * 16);
    expect(other.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(64);
    expect(other.usage!.prompt_tokens_details!.cached_tokens).toBeLessThan(other.usage!.prompt_tokens);
  });

  it("OVMS's prompt-lookup fields change speed, not text; out of range is a 400 naming the field", async () => {
    const plain = await client.completions.create({ model: 'tiny-chat', prompt: 'one two three one two three one two', max_tokens: 16, temperature: 0 });
    const body = { model: 'tiny-chat', prompt: 'one two three one two three one two', max_tokens: 16, temperature: 0, num_assistant_tokens: 4, max_ngram_size: 2 };
    const speculated = await client.completions.create(body as OpenAI.CompletionCreateParamsNonStreaming);
    expect(speculated.choices[0]!.text).toBe(plain.choices[0]!.text);
    const bad = await client.completions.create({ ...body, num_assistant_tokens: 99 } as OpenAI.CompletionCreateParamsNonStreaming).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('num_assistant_tokens');
  });

  it("OVMS's beam search on chat and completions: n of best_of beams, deterministic; streamed, or its fields without it, a 400", async () => {
    type Extra = { use_beam_search?: boolean; best_of?: number; length_penalty?: number; early_stopping?: boolean };
    const chat = (extra: Extra & { stream?: boolean; n?: number }) =>
      client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 8, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const first = await chat({ use_beam_search: true, best_of: 4, n: 2, length_penalty: 0.8 });
    expectSpec('CreateChatCompletionResponse', first);
    expect(first.choices.map((c) => c.index)).toEqual([0, 1]);
    const again = await chat({ use_beam_search: true, best_of: 4, n: 2, length_penalty: 0.8 });
    expect(again.choices.map((c) => c.message.content)).toEqual(first.choices.map((c) => c.message.content));
    const completion = await client.completions.create({ model: 'tiny-chat', prompt: 'The lighthouse', max_tokens: 6, n: 3, best_of: 3, use_beam_search: true } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(completion.choices).toHaveLength(3);
    for (const [extra, param] of [
      [{ use_beam_search: true, best_of: 2, stream: true }, 'use_beam_search'],
      [{ length_penalty: 1.2 }, 'length_penalty'],
      [{ early_stopping: true }, 'early_stopping'],
      [{ use_beam_search: true, best_of: 2, n: 3 }, 'best_of'],
    ] as const) {
      const bad = await chat(extra).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
      expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
    }
  });

  it('include_stop_str_in_output keeps the stop string that ended the text', async () => {
    const base = await client.completions.create({ model: 'tiny-chat', prompt: 'a b c', max_tokens: 24, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    const stop = base.choices[0]!.text.slice(4, 6);
    const cut = await client.completions.create({ model: 'tiny-chat', prompt: 'a b c', max_tokens: 24, temperature: 0, ignore_eos: true, stop } as OpenAI.CompletionCreateParamsNonStreaming);
    const kept = await client.completions.create({ model: 'tiny-chat', prompt: 'a b c', max_tokens: 24, temperature: 0, ignore_eos: true, stop, include_stop_str_in_output: true } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(cut.choices[0]!.text.includes(stop)).toBe(false);
    expect(kept.choices[0]!.text).toBe(cut.choices[0]!.text + stop);
    expect(kept.choices[0]!.finish_reason).toBe('stop');
  });

  it('seed reproduces the same sampled text', async () => {
    const ask = () => client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 10, temperature: 1, seed: 42 });
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
  });

  it('stop: the text ends before the stop string, which never appears', async () => {
    const full = (await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 16, temperature: 0 })).choices[0]!.message.content!;
    const stop = full.slice(6, 9);
    const cut = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 16, temperature: 0, stop: [stop] });
    expect(cut.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(stop)));
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    const streamed = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 16, temperature: 0, stop: stop, stream: true });
    let text = '';
    for await (const chunk of streamed) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(full.slice(0, full.indexOf(stop)));
  });

  it('chat logprobs with top_logprobs', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 2 });
    expectSpec('CreateChatCompletionResponse', r);
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(3);
    for (const t of content) {
      expect(t.top_logprobs).toHaveLength(2);
      expect(t.logprob).toBeCloseTo(t.top_logprobs[0]!.logprob, 5);
    }
  });

  it('completions: unary and streamed, logprobs, echo', async () => {
    const r = await client.completions.create({ model: 'tiny-chat', prompt: 'The capital of France is', max_tokens: 5, temperature: 0, logprobs: 2 });
    expectSpec('CreateCompletionResponse', r);
    expect(r.choices[0]!.logprobs!.tokens).toHaveLength(5);
    const stream = await client.completions.create({ model: 'tiny-chat', prompt: 'The capital of France is', max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(r.choices[0]!.text);
    expect(usage).toEqual(r.usage);
    const echoed = await client.completions.create({ model: 'tiny-chat', prompt: 'The capital of France is', max_tokens: 2, temperature: 0, echo: true });
    expect(echoed.choices[0]!.text.startsWith('The capital of France is')).toBe(true);
  });

  it('curl -N shows a clean SSE stream: content type, frames, [DONE] last', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'tiny-chat', messages, max_tokens: 4, stream: true }) });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const sse = await readSse(res);
    expect(sse.done).toBe(true);
    expect(sse.raw).toMatch(/^data: \{.*\}\n\n/);
    expect(sse.raw.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('a client that breaks out of a stream stops its sequence (the slot frees), others finish', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 900, stream: true, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    const other = client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 20, temperature: 0 });
    let chunks = 0;
    for await (const _ of stream) if (++chunks === 5) break; // openai-node aborts the request
    const deadline = Date.now() + 2000;
    while (server.runtime.generationStats('tiny-chat').running > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect((await other).usage!.completion_tokens).toBe(20);
    while (server.runtime.generationStats('tiny-chat').running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(server.runtime.generationStats('tiny-chat').running).toBe(0);
  });

  it('a non-streamed request whose client disconnects is stopped too', async () => {
    const controller = new AbortController();
    const pending = client.chat.completions.create({ model: 'one-at-a-time', messages, max_tokens: 900, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal: controller.signal });
    const started = Date.now() + 5000;
    while (server.runtime.generationStats('one-at-a-time').running !== 1 && Date.now() < started) await new Promise((r) => setTimeout(r, 2));
    expect(server.runtime.generationStats('one-at-a-time').running).toBe(1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    const deadline = Date.now() + 2000;
    while (server.runtime.generationStats('one-at-a-time').running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(server.runtime.generationStats('one-at-a-time').running).toBe(0);
  });

  it('queue full: 429 RateLimitError at once; the accepted requests complete', async () => {
    const long = { model: 'one-at-a-time', messages, max_tokens: 600, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const stats = () => server.runtime.generationStats('one-at-a-time');
    const until = async (condition: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    };
    const a = client.chat.completions.create(long);
    await until(() => stats().running === 1);
    const b = client.chat.completions.create(long);
    await until(() => stats().waiting === 1);
    const refused = await client.chat.completions.create(long).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBe('1');
    expect((await a).usage!.completion_tokens).toBe(600);
    expect((await b).usage!.completion_tokens).toBe(600);
  });

  it('errors name the field the client sent: max_completion_tokens, max_tokens, messages', async () => {
    const param = async (body: object) =>
      ((await client.chat.completions.create({ model: 'tiny-chat', messages, ...body } as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e: unknown) => e)) as { param?: string }).param;
    expect(await param({ max_completion_tokens: 100_000 })).toBe('max_completion_tokens');
    expect(await param({ max_tokens: 100_000 })).toBe('max_tokens');
    expect(await param({ messages: [{ role: 'user', content: 'word '.repeat(3000) }] })).toBe('messages');
  });

  it('errors: unknown model 404, context overflow 400 with both numbers', async () => {
    await expect(client.chat.completions.create({ model: 'nope', messages })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const err = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 100_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/1024 tokens.*prompt has \d+ tokens plus 100000/);
  });
});
