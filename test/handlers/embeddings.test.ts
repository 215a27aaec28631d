import { describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { RuntimeError } from '../../runtime/index.ts';
import { createFakeRuntime, postJson } from '../helpers/fake-runtime.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

function setup() {
  const runtime = createFakeRuntime([{ name: 'emb', task: 'embeddings' }]);
  return { runtime, app: createApp(runtime) };
}

const decodeBase64 = (s: string) => {
  const bytes = Buffer.from(s, 'base64');
  return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
};

describe('POST /v3/embeddings', () => {
  it('answers CreateEmbeddingResponse for a single string, on /v3 and /v1', async () => {
    const { app, runtime } = setup();
    for (const path of ['/v3/embeddings', '/v1/embeddings']) {
      const res = await postJson(app, path, { model: 'emb', input: 'hello' });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toEqual({
        object: 'list',
        model: 'emb',
        data: [{ object: 'embedding', index: 0, embedding: [0, 0.5, -1.25] }],
        usage: { prompt_tokens: 3, total_tokens: 3 },
      });
      if (specsAvailable) expect(specErrors('openai', 'CreateEmbeddingResponse', body)).toEqual([]);
    }
    expect(runtime.calls.embed[0]).toMatchObject({ model: 'emb', inputs: ['hello'], dimensions: undefined });
    expect(runtime.calls.embed[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it('passes every input shape through: string[], int[], int[][]', async () => {
    const { app, runtime } = setup();
    await postJson(app, '/v3/embeddings', { model: 'emb', input: ['a', 'b'] });
    await postJson(app, '/v3/embeddings', { model: 'emb', input: [1, 2, 3] });
    await postJson(app, '/v3/embeddings', { model: 'emb', input: [[1, 2], [3]] });
    expect(runtime.calls.embed.map((c) => c.inputs)).toEqual([['a', 'b'], [[1, 2, 3]], [[1, 2], [3]]]);
  });

  it('encodes base64 as little-endian float32, the bytes openai-node decodes', async () => {
    const { app } = setup();
    const res = await postJson(app, '/v3/embeddings', { model: 'emb', input: ['a', 'b'], encoding_format: 'base64' });
    const body = (await res.json()) as { data: Array<{ index: number; embedding: string }> };
    expect(body.data.map((d) => d.index)).toEqual([0, 1]);
    expect(decodeBase64(body.data[1]!.embedding)).toEqual([1, 0.5, -1.25]);
    expect(body.data[0]!.embedding).toBe(Buffer.from(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0x3f, 0, 0, 0xa0, 0xbf])).toString('base64'));
  });

  it('passes dimensions to the runtime', async () => {
    const { app, runtime } = setup();
    await postJson(app, '/v3/embeddings', { model: 'emb', input: 'x', dimensions: 8 });
    expect(runtime.calls.embed[0]!.dimensions).toBe(8);
  });

  // A page can post text/plain or a form without a CORS preflight: only JSON is read as JSON.
  it.each(['application/x-www-form-urlencoded', 'text/plain', 'text/plain;charset=UTF-8', 'multipart/form-data; boundary=x', 'application/jsonp', undefined])(
    '415 in the envelope for Content-Type %s, and nothing reaches the runtime',
    async (type) => {
      const { app, runtime } = setup();
      const res = await postJson(app, '/v3/embeddings', { model: 'emb', input: 'x' }, type === undefined ? {} : { 'Content-Type': type });
      expect(res.status).toBe(415);
      expect(((await res.json()) as { error: unknown }).error).toMatchObject({ type: 'invalid_request_error', param: null, code: null });
      expect(runtime.calls.embed).toHaveLength(0);
    },
  );

  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8'])('reads a body with Content-Type %s', async (type) => {
    const { app } = setup();
    expect((await postJson(app, '/v3/embeddings', { model: 'emb', input: 'x' }, { 'Content-Type': type })).status).toBe(200);
  });

  const bad: Array<[string, unknown, string | null]> = [
    ['missing model', { input: 'x' }, 'model'],
    ['missing input', { model: 'emb' }, 'input'],
    ['empty string', { model: 'emb', input: '' }, 'input'],
    ['empty array', { model: 'emb', input: [] }, 'input'],
    ['empty string in array', { model: 'emb', input: ['a', ''] }, 'input[1]'],
    ['mixed array', { model: 'emb', input: ['a', 1] }, 'input'],
    // The union's field is named, not a path relative to it ("[0][1]").
    ['string inside int[][]', { model: 'emb', input: [[1, 2], [3, 'x']] }, 'input'],
    ['token id beyond int32', { model: 'emb', input: [2 ** 40] }, 'input[0]'],
    ['dimensions absurdly large', { model: 'emb', input: 'x', dimensions: 1e12 }, 'dimensions'],
    ['negative token id', { model: 'emb', input: [1, -2] }, 'input[1]'],
    ['too many inputs', { model: 'emb', input: Array(2049).fill('a') }, 'input'],
    ['wrong input type', { model: 'emb', input: 5 }, 'input'],
    ['bad encoding_format', { model: 'emb', input: 'x', encoding_format: 'int8' }, 'encoding_format'],
    ['zero dimensions', { model: 'emb', input: 'x', dimensions: 0 }, 'dimensions'],
    ['fractional dimensions', { model: 'emb', input: 'x', dimensions: 1.5 }, 'dimensions'],
    ['unknown field', { model: 'emb', input: 'x', pooling: 'cls' }, 'pooling'],
    ['model not a string', { model: 7, input: 'x' }, 'model'],
  ];
  it.each(bad)('400 with param for %s', async (_, body, param) => {
    const { app, runtime } = setup();
    const res = await postJson(app, '/v3/embeddings', body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: Record<string, unknown> };
    expect(json.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(typeof json.error.message).toBe('string');
    expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(runtime.calls.embed).toHaveLength(0);
    if (specsAvailable) expect(specErrors('openai', 'ErrorResponse', json)).toEqual([]);
  });

  it('400 for malformed JSON and for a body that is not an object', async () => {
    const { app } = setup();
    const broken = await postJson(app, '/v3/embeddings', '{"model": "emb", "input": ');
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { message: string } }).error.message).toMatch(/JSON/);
    const array = await postJson(app, '/v3/embeddings', '[1,2]');
    expect(array.status).toBe(400);
  });

  it.each([
    [new RuntimeError('model_not_found', 'The model x does not exist.', { param: 'model' }), 404, 'model_not_found', undefined],
    [new RuntimeError('wrong_task', 'serves rerank', { param: 'model' }), 400, 'model_not_supported', undefined],
    [new RuntimeError('invalid_request', 'dimensions must be 32', { param: 'dimensions' }), 400, null, undefined],
    [new RuntimeError('context_length_exceeded', 'too long', { param: 'input' }), 400, 'context_length_exceeded', undefined],
    [new RuntimeError('queue_full', 'busy', { retryAfterSeconds: 1 }), 429, 'queue_full', '1'],
    [new RuntimeError('not_ready', 'loading', { retryAfterSeconds: 1 }), 503, 'model_not_ready', '1'],
  ])('maps runtime error %s to its status and envelope', async (err, status, code, retryAfter) => {
    const { app, runtime } = setup();
    runtime.onEmbed = () => Promise.reject(err);
    const res = await postJson(app, '/v3/embeddings', { model: 'emb', input: 'x' });
    expect(res.status).toBe(status);
    expect(res.headers.get('Retry-After') ?? undefined).toBe(retryAfter);
    expect(((await res.json()) as { error: { code: unknown; message: string } }).error).toMatchObject({ code, message: err.message });
  });

  it('never shows a stack trace for an unexpected failure', async () => {
    const { app, runtime } = setup();
    runtime.onEmbed = () => Promise.reject(new Error('secret internal detail at /srv/x.ts:12'));
    const original = console.error;
    console.error = () => {};
    const res = await postJson(app, '/v3/embeddings', { model: 'emb', input: 'x' });
    console.error = original;
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toMatch(/secret|\.ts:/);
    expect(JSON.parse(text).error.type).toBe('server_error');
  });
});
