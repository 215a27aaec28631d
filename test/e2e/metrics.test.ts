// GET /metrics on a listening server: Prometheus text with vLLM-style names, filled by real
// requests — tokens, time to first token, per-output-token and end-to-end latency, running and
// waiting sequences, queue refusals (429), cancellations, batch counters, HTTP requests by status.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { sample } from '../helpers/prometheus-text.ts';
import { startServer } from '../helpers/server.ts';

describe('Prometheus /metrics', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let client: OpenAI;
  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };
  beforeAll(async () => {
    server = await startServer(
      fixtureConfig([
        { fixture: 'tiny-chat', task: 'text-generation', name: 'tiny-chat' },
        { fixture: 'tiny-chat', task: 'text-generation', name: 'one-at-a-time', max_running_sequences: 1, max_queued_sequences: 1 },
        { fixture: 'tiny-embed', task: 'embeddings', name: 'tiny-embed' },
      ]),
    );
    client = new OpenAI({ baseURL: `${server.url}/v3`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('models are listed with task and engine, and their load time', async () => {
    const text = await scrape();
    expect(sample(text, 'ovserve:model_info', { model_name: 'tiny-chat', task: 'text-generation', engine: 'onnxruntime' })).toBe(1);
    expect(sample(text, 'ovserve:model_load_seconds', { model_name: 'tiny-embed' })).toBeGreaterThan(0);
  });

  it('a streamed chat fills tokens, TTFT, TPOT and end-to-end latency; running and waiting are back to 0', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny-chat', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 9, stream: true, stream_options: { include_usage: true } });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    const text = await scrape();
    const m = { model_name: 'tiny-chat' };
    expect(sample(text, 'ovserve:generation_tokens_total', m)).toBe(usage?.completion_tokens);
    expect(sample(text, 'ovserve:prompt_tokens_total', m)).toBe(usage?.prompt_tokens);
    expect(sample(text, 'ovserve:time_to_first_token_seconds_count', m)).toBe(1);
    expect(sample(text, 'ovserve:time_per_output_token_seconds_count', m)).toBe(1);
    expect(sample(text, 'ovserve:e2e_request_latency_seconds_count', m)).toBe(1);
    expect(sample(text, 'ovserve:request_success_total', { ...m, status: 'finished' })).toBe(1);
    expect(sample(text, 'ovserve:num_requests_running', m)).toBe(0);
    expect(sample(text, 'ovserve:num_requests_waiting', m)).toBe(0);
    expect(sample(text, 'ovserve:decode_steps', m)).toBeGreaterThanOrEqual(8);
  });

  it('a full queue counts as queue_full refusals, and a client that leaves as cancelled', async () => {
    const ask = () => client.chat.completions.create({ model: 'one-at-a-time', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 60, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const results = await Promise.allSettled([ask(), ask(), ask(), ask()]);
    const refused = results.filter((r) => r.status === 'rejected').length;
    expect(refused).toBeGreaterThan(0);
    const stop = new AbortController();
    const stream = await client.chat.completions.create({ model: 'tiny-chat', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 200, stream: true }, { signal: stop.signal });
    for await (const _ of stream) {
      stop.abort();
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
    const text = await scrape();
    expect(sample(text, 'ovserve:request_errors_total', { model_name: 'one-at-a-time', kind: 'queue_full' })).toBe(refused);
    expect(sample(text, 'ovserve:request_success_total', { model_name: 'tiny-chat', status: 'cancelled' })).toBe(1);
  });

  it('encoder batches and HTTP requests by route and status are counted', async () => {
    await client.embeddings.create({ model: 'tiny-embed', input: ['a', 'b', 'c'] });
    await client.embeddings.create({ model: 'tiny-embed', input: 'x', dimensions: 0 }).catch(() => undefined);
    const text = await scrape();
    expect(sample(text, 'ovserve:batch_sequences', { model_name: 'tiny-embed' })).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'ovserve:batch_runs', { model_name: 'tiny-embed' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'ovserve:http_requests_total', { route: '/v3/embeddings', method: 'POST', status: '200' })).toBe(1);
    expect(sample(text, 'ovserve:http_requests_total', { route: '/v3/embeddings', method: 'POST', status: '400' })).toBe(1);
    expect(sample(text, 'ovserve:http_request_duration_seconds_count', { route: '/v3/embeddings', method: 'POST' })).toBe(2);
    // 'a', 'b', 'c' tokenize alike: a batch of them has (next to) no padding; a ratio in [0, 1) either way.
    const padding = sample(text, 'ovserve:encoder_padding_ratio', { model_name: 'tiny-embed' });
    expect(padding).toBeGreaterThanOrEqual(0);
    expect(padding).toBeLessThan(1);
  });

  it('prefix-cache hits, KV usage, preemptions and chunks are exported per model', async () => {
    const messages = [
      { role: 'system' as const, content: 'Answer in one word, as a lighthouse keeper would. '.repeat(5) },
      { role: 'user' as const, content: 'Lamp?' },
    ];
    const before = sample(await scrape(), 'ovserve:prefix_cache_hits_total', { model_name: 'tiny-chat' }) ?? 0;
    await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 3 });
    const warm = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 3 });
    const text = await scrape();
    const m = { model_name: 'tiny-chat' };
    expect(warm.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(0);
    expect(sample(text, 'ovserve:prefix_cache_hits_total', m)! - before).toBe(warm.usage!.prompt_tokens_details!.cached_tokens);
    expect(sample(text, 'ovserve:prefix_cache_queries_total', m)).toBeGreaterThanOrEqual(2 * warm.usage!.prompt_tokens);
    expect(sample(text, 'ovserve:kv_cache_usage_perc', m)).toBe(0);
    expect(sample(text, 'ovserve:num_preemptions_total', m)).toBe(0);
    for (const name of ['ovserve:prefill_chunks_total', 'ovserve:spec_decode_num_draft_tokens_total', 'ovserve:spec_decode_num_accepted_tokens_total']) expect(sample(text, name, m)).toBeGreaterThanOrEqual(0);
  });

  it('engine runs are counted and timed by kind', async () => {
    await client.chat.completions.create({ model: 'tiny-chat', messages: [{ role: 'user', content: 'Count.' }], max_tokens: 4, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const text = await scrape();
    for (const kind of ['prefill', 'decode']) {
      const at = { model_name: 'tiny-chat', kind };
      expect(sample(text, 'ovserve:engine_runs_total', at)).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'ovserve:engine_run_seconds_total', at)).toBeGreaterThan(0);
    }
    // The third kind is exported too (runs a prompt chunk rode in; the scheduling tests make them).
    expect(sample(text, 'ovserve:engine_runs_total', { model_name: 'tiny-chat', kind: 'decode_with_chunk' })).toBeGreaterThanOrEqual(0);
  });
});
