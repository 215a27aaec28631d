import { describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { RuntimeError } from '../../runtime/index.ts';
import { createFakeRuntime, postJson, readJson } from '../helpers/fake-runtime.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

const V1_200 = '#/paths/~1v1~1rerank/post/responses/200/content/application~1json/schema';
const V2_200 = '#/paths/~1v2~1rerank/post/responses/200/content/application~1json/schema';

function setup(models: Array<{ name: string; task: 'rerank' | 'embeddings' }> = [{ name: 'rr', task: 'rerank' }]) {
  const runtime = createFakeRuntime(models);
  return { runtime, app: createApp(runtime) };
}

const PATHS = ['/v3/rerank', '/v3/v1/rerank', '/v3/v2/rerank', '/v1/rerank', '/v2/rerank'];

describe('POST /v3/rerank and the Cohere client paths', () => {
  it.each(PATHS)('%s answers the Cohere shape, best first, with id and meta', async (path) => {
    const { app, runtime } = setup();
    const res = await postJson(app, path, { model: 'rr', query: 'q', documents: ['a', 'b', 'c'] });
    expect(res.status).toBe(200);
    const body = (await readJson(res)) as { id: string; results: unknown[]; meta: { api_version: { version: string } } };
    expect(body.results).toEqual([
      { index: 0, relevance_score: 1 / 2 },
      { index: 1, relevance_score: 1 / 3 },
      { index: 2, relevance_score: 1 / 4 },
    ]);
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.meta.api_version.version).toBe(path.includes('v1') ? '1' : '2');
    if (specsAvailable) expect(specErrors('cohere', path.includes('v1') ? V1_200 : V2_200, body)).toEqual([]);
    expect(runtime.calls.rerank[0]).toMatchObject({ model: 'rr', query: 'q', documents: ['a', 'b', 'c'], topN: undefined });
  });

  it('returns documents only when asked, as {text} for strings and as sent for objects', async () => {
    const { app } = setup();
    const plain = await readJson(await postJson(app, '/v3/rerank', { model: 'rr', query: 'q', documents: ['a'] }));
    expect(plain.results[0]).not.toHaveProperty('document');
    const withDocs = await readJson(await postJson(app, '/v3/rerank', { model: 'rr', query: 'q', documents: ['a', { text: 'b', id: 7 }], return_documents: true }));
    expect(withDocs.results.map((r: { document: unknown }) => r.document)).toEqual([{ text: 'a' }, { text: 'b', id: 7 }]);
    if (specsAvailable) expect(specErrors('cohere', V1_200, withDocs)).toEqual([]);
  });

  it('scores object documents by text, or by rank_fields', async () => {
    const { app, runtime } = setup();
    await postJson(app, '/v3/rerank', { model: 'rr', query: 'q', documents: [{ text: 'one' }] });
    await postJson(app, '/v1/rerank', { model: 'rr', query: 'q', documents: [{ title: 'T', body: 'B' }], rank_fields: ['title', 'body'] });
    expect(runtime.calls.rerank.map((c) => c.documents)).toEqual([['one'], ['title: T\nbody: B']]);
  });

  it('passes top_n and max_tokens_per_doc through', async () => {
    const { app, runtime } = setup();
    const res = await postJson(app, '/v2/rerank', { model: 'rr', query: 'q', documents: ['a', 'b', 'c'], top_n: 2, max_tokens_per_doc: 64 });
    expect((await readJson(res)).results).toHaveLength(2);
    expect(runtime.calls.rerank[0]).toMatchObject({ topN: 2, maxTokensPerDoc: 64 });
  });

  it('uses the only rerank model when v1 omits model, and asks for it when there are several', async () => {
    const one = setup([{ name: 'rr', task: 'rerank' }, { name: 'emb', task: 'embeddings' }]);
    expect((await postJson(one.app, '/v1/rerank', { query: 'q', documents: ['a'] })).status).toBe(200);
    expect(one.runtime.calls.rerank[0]!.model).toBe('rr');
    const two = setup([{ name: 'r1', task: 'rerank' }, { name: 'r2', task: 'rerank' }]);
    const res = await postJson(two.app, '/v1/rerank', { query: 'q', documents: ['a'] });
    expect(res.status).toBe(400);
    expect((await readJson(res)).error.param).toBe('model');
  });

  const bad: Array<[string, unknown, string]> = [
    ['missing query', { model: 'rr', documents: ['a'] }, 'query'],
    ['empty query', { model: 'rr', query: '', documents: ['a'] }, 'query'],
    ['missing documents', { model: 'rr', query: 'q' }, 'documents'],
    ['empty documents', { model: 'rr', query: 'q', documents: [] }, 'documents'],
    ['document of a wrong type', { model: 'rr', query: 'q', documents: [3] }, 'documents[0]'],
    ['object without text', { model: 'rr', query: 'q', documents: [{ title: 'x' }] }, 'documents[0]'],
    ['top_n zero', { model: 'rr', query: 'q', documents: ['a'], top_n: 0 }, 'top_n'],
    ['unknown field', { model: 'rr', query: 'q', documents: ['a'], max_chunks_per_doc: 3 }, 'max_chunks_per_doc'],
    // Cohere v2 (and /v3/rerank, which speaks v2) requires model; only v1 may omit it.
    ['missing model on a v2 path', { query: 'q', documents: ['a'] }, 'model'],
    // rank_fields read the document's own fields, never inherited ones.
    ...(['constructor', '__proto__', 'toString', 'hasOwnProperty'] as const).map(
      (field): [string, unknown, string] => [`rank_fields naming ${field}`, { model: 'rr', query: 'q', documents: [{ text: 'a' }], rank_fields: [field] }, 'documents[0]'],
    ),
    ['a rank field that is an object', { model: 'rr', query: 'q', documents: [{ text: { deep: 1 } }] }, 'documents[0].text'],
    ['a document that is an array', { model: 'rr', query: 'q', documents: [['a']] }, 'documents[0]'],
  ];
  it.each(bad)('400 with both envelopes for %s', async (_, body, param) => {
    const { app, runtime } = setup();
    const res = await postJson(app, '/v3/rerank', body);
    expect(res.status).toBe(400);
    const json = (await readJson(res)) as { error: { param: string; message: string; type: string }; message: string };
    expect(json.error).toMatchObject({ param, type: 'invalid_request_error' });
    // Cohere SDKs read the top-level message.
    expect(json.message).toBe(json.error.message);
    expect(runtime.calls.rerank).toHaveLength(0);
  });

  it('keeps a __proto__ field of a returned document as sent', async () => {
    const { app } = setup();
    const res = await postJson(app, '/v3/v1/rerank', `{"model":"rr","query":"q","documents":[{"text":"a","__proto__":{"x":1}}],"return_documents":true}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('"__proto__":{"x":1}');
  });

  it('400 in both envelopes for a body nested 5,000 deep (no stack overflow, nothing reaches the runtime)', async () => {
    const { app, runtime } = setup();
    const deep = `${'{"a":'.repeat(5000)}"x"${'}'.repeat(5000)}`;
    const res = await postJson(app, '/v3/v1/rerank', `{"model":"rr","query":"q","documents":[${deep}],"return_documents":true}`);
    expect(res.status).toBe(400);
    const json = await readJson(res);
    expect(json.error.message).toMatch(/deeper than 64/);
    expect(json.message).toBe(json.error.message);
    expect(runtime.calls.rerank).toHaveLength(0);
  });

  it('maps runtime errors (unknown model 404, wrong task 400, queue full 429)', async () => {
    const { app, runtime } = setup();
    const cases: Array<[RuntimeError, number]> = [
      [new RuntimeError('model_not_found', 'no such model', { param: 'model' }), 404],
      [new RuntimeError('wrong_task', 'serves embeddings', { param: 'model' }), 400],
      [new RuntimeError('queue_full', 'busy', { retryAfterSeconds: 1 }), 429],
    ];
    for (const [err, status] of cases) {
      runtime.onRerank = () => Promise.reject(err);
      const res = await postJson(app, '/v3/rerank', { model: 'rr', query: 'q', documents: ['a'] });
      expect(res.status).toBe(status);
      expect((await readJson(res)).message).toBe(err.message);
    }
  });
});
