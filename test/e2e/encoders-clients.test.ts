// The official clients, unchanged, against a listening server on real fixture models.
import { CohereClient, CohereClientV2, CohereError } from 'cohere-ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

describe('official clients against a listening server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let openai: OpenAI;

  beforeAll(async () => {
    server = await startServer(fixtureConfig([
      { fixture: 'tiny-embed', task: 'embeddings', name: 'tiny-embed', matryoshka: true },
      { fixture: 'tiny-rerank', task: 'rerank', name: 'tiny-rerank' },
      { fixture: 'tiny-embed', task: 'embeddings', name: 'small-queue', max_queued_requests: 2, max_wait_ms: 0 },
    ]));
    openai = new OpenAI({ baseURL: `${server.url}/v3`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('openai embeddings: default (base64 on the wire) and float give the same numbers', async () => {
    const input = ['hello world', 'the sky is blue'];
    const viaDefault = await openai.embeddings.create({ model: 'tiny-embed', input });
    const viaFloat = await openai.embeddings.create({ model: 'tiny-embed', input, encoding_format: 'float' });
    expect(viaDefault.data).toHaveLength(2);
    viaDefault.data.forEach((d, i) => {
      expect(d.embedding).toHaveLength(32);
      d.embedding.forEach((x, j) => expect(x).toBe(viaFloat.data[i]!.embedding[j]));
    });
    expect(viaFloat.usage).toEqual({ prompt_tokens: 10, total_tokens: 10 }); // [CLS] hello world [SEP] + [CLS] the sky is blue [SEP]
    if (specsAvailable) expect(specErrors('openai', 'CreateEmbeddingResponse', viaFloat)).toEqual([]);
  });

  it('openai embeddings: dimensions on a Matryoshka model', async () => {
    const r = await openai.embeddings.create({ model: 'tiny-embed', input: 'hello', dimensions: 16 });
    expect(r.data[0]!.embedding).toHaveLength(16);
  });

  it('openai errors: unknown model is NotFoundError, bad input is BadRequestError', async () => {
    await expect(openai.embeddings.create({ model: 'nope', input: 'x' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const err = await openai.embeddings.create({ model: 'tiny-embed', input: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('input');
  });

  it('cohere-ai v1 and v2 clients rerank with base URL .../v3', async () => {
    const documents = ['paris is the capital of france', 'the sky is blue', 'berlin is in germany'];
    const v1 = await new CohereClient({ token: 'unused', environment: `${server.url}/v3` }).rerank({ model: 'tiny-rerank', query: 'capital of france', documents, returnDocuments: true, topN: 2 });
    expect(v1.results).toHaveLength(2);
    expect(v1.results[0]!.relevanceScore).toBeGreaterThanOrEqual(v1.results[1]!.relevanceScore);
    expect(v1.results[0]!.document?.text).toBe(documents[v1.results[0]!.index]);
    const v2 = await new CohereClientV2({ token: 'unused', environment: `${server.url}/v3` }).rerank({ model: 'tiny-rerank', query: 'capital of france', documents });
    expect(v2.results.map((r) => r.index).sort()).toEqual([0, 1, 2]);
    expect(v2.results[0]!.relevanceScore).toBeCloseTo(v1.results[0]!.relevanceScore, 9);
    expect(v2.id).toBeTruthy();
  });

  it('cohere-ai surfaces our error message', async () => {
    const err = await new CohereClientV2({ token: 'unused', environment: `${server.url}/v3` })
      .rerank({ model: 'nope', query: 'q', documents: ['a'] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CohereError);
    expect((err as CohereError).statusCode).toBe(404);
    expect(JSON.stringify((err as CohereError).body)).toMatch(/does not exist/);
  });

  it('curl-shaped requests: a body without a JSON Content-Type is 415, /v1 alias, models list', async () => {
    // fetch sends a string body as text/plain, curl -d as a form: neither is read as JSON.
    const plain = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', body: '{"model":"tiny-embed","input":"hi"}' });
    expect(plain.status).toBe(415);
    const res = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"model":"tiny-embed","input":"hi"}' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const models = (await (await fetch(`${server.url}/v3/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(['tiny-embed', 'tiny-rerank', 'small-queue']);
  });

  it('overload answers 429 with Retry-After at once, and the accepted requests complete', async () => {
    // 2048 texts a request (64 backend runs) keep the first two waiting in the queue while the rest
    // arrive: a request counts as waiting until its last text has gone to a batch.
    const send = () => fetch(`${server.url}/v3/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'small-queue', input: Array(2048).fill('the quick brown fox jumps over the lazy dog') }) });
    const responses = await Promise.all(Array.from({ length: 8 }, send));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    for (const r of responses) {
      const body = (await r.json()) as { data?: unknown[]; error?: { type: string } };
      if (r.status === 200) expect(body.data).toHaveLength(2048);
      else expect(r.headers.get('retry-after')).toBe('1'), expect(body.error!.type).toBe('rate_limit_error');
    }
    // And it keeps serving.
    expect((await send()).status).toBe(200);
  });
});
