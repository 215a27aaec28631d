// 10 MB bodies against a live server: each answered by its own bounded work (tokenizing about a
// context, a few milliseconds at a time), while a running stream keeps receiving its tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sliceStats } from '../../runtime/cooperative.ts';
import { tokenizeStats, MAX_CHARS_PER_TOKEN } from '../../runtime/tokenizer.ts';
import { fixtureConfig, TEXT_MODELS } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';

const TEN_MB = 10 * 1024 * 1024;
const text = (bytes: number) => 'the quick brown fox jumps over the lazy dog '.repeat(Math.ceil(bytes / 44)).slice(0, bytes);

describe('big inputs do not stall the server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer(
      fixtureConfig(TEXT_MODELS),
    );
  });
  afterAll(() => server.close());

  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  it('answers 10 MB prompts, inputs and document lists in their envelopes while a stream keeps flowing', async () => {
    const log: string[] = [];
    const stream = await post('/v3/completions', { model: 'tiny-chat', prompt: 'hi', max_tokens: 1000, ignore_eos: true, stream: true });
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let streamed = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const chunk = decoder.decode(value, { stream: true });
        streamed += chunk;
        for (let i = chunk.indexOf('data: '); i >= 0; i = chunk.indexOf('data: ', i + 1)) log.push('frame');
      }
    })();
    while (!log.includes('frame')) await new Promise((r) => setTimeout(r, 1));

    tokenizeStats.largestCall = 0;
    const yieldsBefore = sliceStats.yields;
    const big = text(TEN_MB);
    const requests: Array<[string, unknown, number]> = [
      ['/v3/chat/completions', { model: 'tiny-chat', messages: [{ role: 'user', content: big }] }, 400],
      ['/v3/chat/completions', { model: 'tiny-chat', messages: [{ role: 'user', content: big }] }, 400],
      ['/v3/completions', { model: 'tiny-chat', prompt: big }, 400],
      ['/v3/embeddings', { model: 'tiny-embed', input: big }, 200],
      ['/v3/embeddings', { model: 'tiny-embed', input: Array.from({ length: 1000 }, () => text(TEN_MB / 1000)) }, 200],
      ['/v3/rerank', { model: 'tiny-rerank', query: 'fox', documents: Array.from({ length: 2000 }, () => text(TEN_MB / 2000)) }, 200],
    ];
    const answers = await Promise.all(
      requests.map(async ([path, body, status], i) => {
        log.push(`sent ${i}`);
        const res = await post(path, body);
        const json = (await res.json()) as { error?: { code: string | null; message: string } };
        log.push(`answered ${i}`);
        return { path, status: res.status, expected: status, json };
      }),
    );
    for (const a of answers) {
      expect(a.status, `${a.path}: ${JSON.stringify(a.json).slice(0, 200)}`).toBe(a.expected);
      if (a.expected === 400) expect(a.json.error).toMatchObject({ code: 'context_length_exceeded', message: expect.stringMatching(/more than 1024 tokens/) });
    }
    // Bounded work: no single tokenizer call read more than about a context's worth of text ...
    expect(tokenizeStats.largestCall).toBeLessThanOrEqual((1024 + 16) * MAX_CHARS_PER_TOKEN + 32_768);
    // ... and the long loops (1,000 inputs, 2,000 documents) gave the event loop turns.
    expect(sliceStats.yields).toBeGreaterThan(yieldsBefore);
    // The stream received tokens while the big requests were being answered, and finished whole.
    const first = log.indexOf('sent 0');
    const last = log.lastIndexOf(log.filter((e) => e.startsWith('answered')).at(-1) as string);
    expect(log.slice(first, last).filter((e) => e === 'frame').length).toBeGreaterThan(0);
    await reading;
    expect(streamed.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(streamed).toContain('"finish_reason":"length"');
  });
});
