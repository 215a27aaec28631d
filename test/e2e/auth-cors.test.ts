// API keys and CORS: the official clients with and without the right key against a live server,
// every API's 401 envelope, public health probes, and browser preflights for every route.
import { CohereClientV2, CohereError } from 'cohere-ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { serve } from '../../wrangler-free-local/serve.ts';
import { createFakeRuntime } from '../helpers/fake-runtime.ts';
import { fixtureConfig, TEXT_MODELS } from '../helpers/fixtures.ts';

describe('API keys on a live server', () => {
  let server: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    server = await serve({ config: fixtureConfig(TEXT_MODELS), port: 0, host: '127.0.0.1', apiKeys: ['sk-first', 'sk-second'], log: () => {} });
    await server.ready;
  });
  afterAll(() => server.close());

  it('the openai client with a configured key is served; a wrong or missing key is a 401 AuthenticationError', async () => {
    const client = (apiKey: string) => new OpenAI({ baseURL: `${server.url}/v3`, apiKey, maxRetries: 0 });
    expect((await client('sk-second').embeddings.create({ model: 'tiny-embed', input: 'hi' })).data).toHaveLength(1);
    const wrong = await client('sk-nope').embeddings.create({ model: 'tiny-embed', input: 'hi' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((wrong as Error).message).toMatch(/Incorrect API key/);
    const bare = await fetch(`${server.url}/v3/models`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await bare.json()) as { error: { message: string } }).error.message).toMatch(/Missing API key/);
  });

  it('x-api-key works too; Cohere and OIP routes answer 401 in their own envelopes; health stays public', async () => {
    const withHeader = await fetch(`${server.url}/v3/models`, { headers: { 'x-api-key': 'sk-first' } });
    expect(withHeader.status).toBe(200);
    const cohere = await new CohereClientV2({ token: 'sk-nope', environment: `${server.url}/v3` }).rerank({ model: 'tiny-rerank', query: 'q', documents: ['a'] }).catch((e: unknown) => e);
    expect(cohere).toBeInstanceOf(CohereError);
    expect((cohere as CohereError).statusCode).toBe(401);
    const oip = await fetch(`${server.url}/v2/models`);
    expect(oip.status).toBe(401);
    expect(typeof ((await oip.json()) as { error: unknown }).error).toBe('string');
    for (const path of ['/health', '/v2/health/live', '/v2/health/ready']) expect((await fetch(`${server.url}${path}`)).status).toBe(200);
  });
});

describe('CORS', () => {
  const runtime = createFakeRuntime([{ name: 'emb', task: 'embeddings' }]);
  const app = createApp(runtime, { corsOrigins: ['https://app.example'], apiKeys: ['k'] });

  it.each(['/v3/chat/completions', '/v3/embeddings', '/v3/rerank', '/v2/models/emb/infer', '/v1/completions'])('answers the preflight for %s without a key', async (path) => {
    const res = await app.request(path, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });

  it('marks responses for an allowed origin only; off when no origin is configured', async () => {
    const post = (a: typeof app, origin: string) =>
      a.request('/v3/embeddings', { method: 'POST', headers: { Origin: origin, Authorization: 'Bearer k', 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'emb', input: 'x' }) });
    expect((await post(app, 'https://app.example')).headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await post(app, 'https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const plain = createApp(runtime, { apiKeys: ['k'] });
    expect((await post(plain, 'https://app.example')).headers.get('access-control-allow-origin')).toBeNull();
    const any = createApp(runtime, { corsOrigins: ['*'] });
    expect((await any.request('/v3/models', { headers: { Origin: 'https://x.example' } })).headers.get('access-control-allow-origin')).toBe('*');
  });
});
