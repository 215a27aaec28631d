// vLLM's /tokenize and /detokenize on a live server: the ids generation uses, round trips, and
// bad input as 4xx in the OpenAI envelope.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig, TEXT_MODELS } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';

describe('/tokenize and /detokenize', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([...TEXT_MODELS, { fixture: 'tiny-mlp', task: 'tensor' }]));
  });
  afterAll(() => server.close());
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  it('a chat renders through the template: the count is the prompt_tokens a completion reports', async () => {
    const messages = [{ role: 'user', content: 'Hello there, how are you?' }];
    const tokenized = await post('/tokenize', { model: 'tiny-chat', messages });
    expect(tokenized.status).toBe(200);
    expect(tokenized.body.max_model_len).toBe(1024);
    const chat = await post('/v3/chat/completions', { model: 'tiny-chat', messages, max_tokens: 1 });
    expect(tokenized.body.count).toBe(chat.body.usage.prompt_tokens);
    expect(tokenized.body.tokens).toHaveLength(tokenized.body.count);
  });

  it('a prompt round-trips; special tokens are added only when asked (embeddings: [CLS] ... [SEP])', async () => {
    const text = 'the quick brown fox';
    const plain = await post('/v3/tokenize', { model: 'tiny-chat', prompt: text });
    expect((await post('/detokenize', { model: 'tiny-chat', tokens: plain.body.tokens })).body).toEqual({ prompt: text });
    const withSpecial = await post('/tokenize', { model: 'tiny-embed', prompt: text });
    const without = await post('/tokenize', { model: 'tiny-embed', prompt: text, add_special_tokens: false });
    expect(withSpecial.body.count).toBe(without.body.count + 2);
  });

  it.each<[string, string, unknown, number]>([
    ['an unknown model', '/tokenize', { model: 'nope', prompt: 'x' }, 404],
    ['a tensor model', '/tokenize', { model: 'tiny-mlp', prompt: 'x' }, 400],
    ['neither prompt nor messages', '/tokenize', { model: 'tiny-chat' }, 400],
    ['a text no context could hold', '/tokenize', { model: 'tiny-embed', prompt: 'x '.repeat(100_000) }, 400],
    ['a token outside the vocabulary', '/detokenize', { model: 'tiny-chat', tokens: [1, 999_999] }, 400],
    ['a fractional token', '/detokenize', { model: 'tiny-chat', tokens: [1.5] }, 400],
  ])('%s: %s answers %i in the envelope', async (_, path, body, status) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
  });
});
