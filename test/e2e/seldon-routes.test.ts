// Seldon Core 2's per-model OpenAI routes: the official clients with base_url
// .../v2/models/<model>/infer work unchanged, with the same numbers and tokens as through /v3.
import { CohereClientV2 } from 'cohere-ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig, TEXT_MODELS } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

describe('per-model routes /v2/models/{model}/infer/...', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let v3: OpenAI;
  const perModel = (model: string) => new OpenAI({ baseURL: `${server.url}/v2/models/${model}/infer`, apiKey: 'unused', maxRetries: 0 });

  beforeAll(async () => {
    server = await startServer(
      fixtureConfig(TEXT_MODELS),
    );
    v3 = new OpenAI({ baseURL: `${server.url}/v3`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.close());

  const messages = [{ role: 'user' as const, content: 'Hello there' }];

  it('chat, unary: the same tokens as /v3', async () => {
    const params = { model: 'tiny-chat', messages, max_tokens: 12, temperature: 0 };
    const [viaSeldon, viaV3] = await Promise.all([perModel('tiny-chat').chat.completions.create(params), v3.chat.completions.create(params)]);
    expect(viaSeldon.choices[0]!.message.content).toBe(viaV3.choices[0]!.message.content);
    // The same counts; cached_tokens may differ (whichever ran second may reuse the first's prompt blocks).
    const counts = (u: OpenAI.CompletionUsage | undefined) => ({ prompt: u?.prompt_tokens, completion: u?.completion_tokens, total: u?.total_tokens });
    expect(counts(viaSeldon.usage)).toEqual(counts(viaV3.usage));
    expect(viaSeldon.model).toBe('tiny-chat');
    if (specsAvailable) expect(specErrors('openai', 'CreateChatCompletionResponse', viaSeldon)).toEqual([]);
  });

  it('chat, streamed: the same text as /v3', async () => {
    const params = { model: 'tiny-chat', messages, max_tokens: 12, temperature: 0, stream: true as const };
    const read = async (client: OpenAI) => {
      let text = '';
      for await (const chunk of await client.chat.completions.create(params)) text += chunk.choices[0]?.delta.content ?? '';
      return text;
    };
    expect(await read(perModel('tiny-chat'))).toBe(await read(v3));
  });

  it('completions and embeddings: the same tokens and numbers as /v3', async () => {
    const completion = { model: 'tiny-chat', prompt: 'The capital of France is', max_tokens: 6, temperature: 0 };
    expect((await perModel('tiny-chat').completions.create(completion)).choices[0]!.text).toBe((await v3.completions.create(completion)).choices[0]!.text);
    const embedding = { model: 'tiny-embed', input: ['hello world', 'the sky is blue'] };
    const [a, b] = await Promise.all([perModel('tiny-embed').embeddings.create(embedding), v3.embeddings.create(embedding)]);
    a.data.forEach((d, i) => expect(d.embedding).toEqual(b.data[i]!.embedding));
  });

  it('a body without model takes the path model; a version suffix on the path is accepted', async () => {
    const post = (path: string, body: object) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const res = await post('/v2/models/tiny-embed/infer/embeddings', { input: 'hello' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: string }).model).toBe('tiny-embed');
    const versioned = await post('/v2/models/tiny-chat_1/infer/completions', { model: 'tiny-chat', prompt: 'hi', max_tokens: 2 });
    expect(versioned.status).toBe(200);
  });

  it('a body naming another model is a 400 naming both', async () => {
    const err = await perModel('tiny-chat')
      .chat.completions.create({ model: 'tiny-embed', messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/'tiny-embed'.*'tiny-chat'/);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('model');
  });

  it('an unknown model in the path is a 404 in the envelope', async () => {
    await expect(perModel('nope').chat.completions.create({ model: 'nope', messages })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('Cohere rerank works under the per-model base URL, equal to /v3', async () => {
    const request = { model: 'tiny-rerank', query: 'capital of France', documents: ['Paris is the capital', 'The sky is blue'] };
    const viaSeldon = await new CohereClientV2({ token: 'unused', environment: `${server.url}/v2/models/tiny-rerank/infer` }).rerank(request);
    const viaV3 = await new CohereClientV2({ token: 'unused', environment: `${server.url}/v3` }).rerank(request);
    expect(viaSeldon.results).toEqual(viaV3.results);
  });
});
