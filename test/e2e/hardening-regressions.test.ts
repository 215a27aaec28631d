// The hardening report's findings, each replayed against a live server (items 2, 4 and 5 have
// their own files: big-inputs, shutdown, browser-guards).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../runtime/index.ts';
import { copyFixture, fixturePath } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { readSse } from '../helpers/sse.ts';

describe('hardening report, replayed', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-regressions-'));
  beforeAll(async () => {
    // A chat model whose generation_config.json sets top_p, as most real models do.
    copyFixture('tiny-chat', join(dir, 'topp-chat'));
    writeFileSync(join(dir, 'topp-chat', 'generation_config.json'), JSON.stringify({ eos_token_id: 2, top_p: 0.9, temperature: 0.7 }));
    copyFixture('tiny-rerank', join(dir, 'rerank'));
    server = await startServer(
      parseConfig(
        {
          models: [
            { name: 'chat', task: 'text-generation', path: fixturePath('tiny-chat') },
            { name: 'topp-chat', task: 'text-generation', path: 'topp-chat' },
            { name: 'rerank', task: 'rerank', path: 'rerank' },
          ],
        },
        dir,
      ),
    );
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const messages = [{ role: 'user', content: 'hi' }];

  it.each([
    { model: 'chat', top_p: 0.5, temperature: 1e-300 },
    { model: 'chat', top_p: 0.5, temperature: 1e-38 },
    { model: 'chat', top_p: 0.5, repetition_penalty: 1e-300 },
    { model: 'topp-chat', temperature: 1e-300 },
  ])('1. %o generates (greedy) instead of hanging the process', async (params) => {
    const chat = await post('/v3/chat/completions', { ...params, messages, max_tokens: 8 });
    expect(chat.status).toBe(200);
    const completion = await post('/v3/completions', { ...params, prompt: 'hi', max_tokens: 8 });
    expect(completion.status).toBe(200);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it('3. a 1 KB body asking for 25,600 sequences is a 400 naming n, before any work', async () => {
    const res = await post('/v3/completions', { model: 'chat', prompt: Array(200).fill('x'), n: 128, max_tokens: 16, ignore_eos: true });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string; message: string } }).error).toMatchObject({ param: 'n', message: expect.stringMatching(/25600 sequences/) });
  });

  const rerank = { model: 'rerank', query: 'q' };
  it.each<[string, unknown, string, number]>([
    ['rank_fields: constructor', { ...rerank, documents: [{ text: 'a' }], rank_fields: ['constructor'] }, '/v3/v1/rerank', 400],
    ['rank_fields: __proto__', { ...rerank, documents: [{ text: 'a' }], rank_fields: ['__proto__'] }, '/v3/v1/rerank', 400],
    ['rank_fields: toString', { ...rerank, documents: [{ text: 'a' }], rank_fields: ['toString'] }, '/v3/v1/rerank', 400],
    ['5,000-deep document with return_documents', `{"model":"rerank","query":"q","return_documents":true,"documents":[${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}]}`, '/v3/v1/rerank', 400],
    ['logit_bias {"__proto__": "x"}', '{"model":"chat","messages":[{"role":"user","content":"hi"}],"logit_bias":{"__proto__":"x"}}', '/v3/chat/completions', 400],
    ['logit_bias: []', { model: 'chat', messages, logit_bias: [] }, '/v3/chat/completions', 400],
    ['stream_options: []', { model: 'chat', messages, stream_options: [] }, '/v3/chat/completions', 400],
    ['repetition_penalty: 1e400', '{"model":"chat","messages":[{"role":"user","content":"hi"}],"repetition_penalty":1e400}', '/v3/chat/completions', 400],
    ['a chat message without content', { model: 'chat', messages: [{ role: 'user' }] }, '/v3/chat/completions', 400],
    ['rerank without model', { query: 'q', documents: ['a'] }, '/v3/rerank', 400],
  ])('6. %s answers %s %i in its envelope', async (_, body, path, status) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: { message: string; type: string }; message?: string };
    expect(json.error).toMatchObject({ message: expect.any(String), type: 'invalid_request_error' });
    if (path.endsWith('rerank')) expect(json.message).toBe(json.error.message);
  });

  it('6. an int[][] embeddings-style input with a string names the field, not "[0][1]"', async () => {
    const res = await post('/v3/completions', { model: 'chat', prompt: [[1, 2], [3, 'x']] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('prompt');
  });

  it('7. completions streams with include_usage carry usage: null before the usage chunk', async () => {
    const sse = await readSse(await post('/v3/completions', { model: 'chat', prompt: 'hi', max_tokens: 4, stream: true, stream_options: { include_usage: true } }));
    expect(sse.done).toBe(true);
    expect(sse.frames.slice(0, -1).every((f) => f.usage === null)).toBe(true);
    expect(sse.frames.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 4 } });
  });
});
