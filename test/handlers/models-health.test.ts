import { describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { createFakeRuntime, readJson } from '../helpers/fake-runtime.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

describe('models, health and unknown routes', () => {
  const runtime = createFakeRuntime([{ name: 'emb', task: 'embeddings' }, { name: 'org/rr', task: 'rerank' }]);
  const app = createApp(runtime);

  it('lists models in the OpenAI shape on /v3 and /v1', async () => {
    for (const path of ['/v3/models', '/v1/models']) {
      const body = await readJson(await app.request(path));
      expect(body).toEqual({
        object: 'list',
        data: [
          { id: 'emb', object: 'model', created: 1700000000, owned_by: 'ovserve' },
          { id: 'org/rr', object: 'model', created: 1700000000, owned_by: 'ovserve' },
        ],
      });
      if (specsAvailable) expect(specErrors('openai', 'ListModelsResponse', body)).toEqual([]);
    }
  });

  it('retrieves one model, including ids with a slash, and 404s unknown ones', async () => {
    const res = await app.request('/v3/models/org/rr');
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body.id).toBe('org/rr');
    if (specsAvailable) expect(specErrors('openai', 'Model', body)).toEqual([]);
    const missing = await app.request('/v1/models/nope');
    expect(missing.status).toBe(404);
    expect((await readJson(missing)).error.code).toBe('model_not_found');
  });

  it('answers ready 200 only when the runtime is ready, 503 before; live always', async () => {
    runtime.ready_ = false;
    expect((await app.request('/v2/health/ready')).status).toBe(503);
    expect((await app.request('/v2/health/live')).status).toBe(200);
    runtime.ready_ = true;
    expect((await app.request('/v2/health/ready')).status).toBe(200);
    expect((await app.request('/health')).status).toBe(200);
  });

  it('answers unknown paths and methods with a 404 envelope', async () => {
    for (const res of [await app.request('/v3/nothing'), await app.request('/v3/embeddings')]) {
      expect(res.status).toBe(404);
      expect((await readJson(res)).error.type).toBe('invalid_request_error');
    }
  });

  it('answers an oversized body with 413', async () => {
    const small = createApp(runtime, { maxBodyBytes: 100 });
    const res = await small.request('/v3/embeddings', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'emb', input: 'x'.repeat(500) }) });
    expect(res.status).toBe(413);
    expect((await readJson(res)).error.message).toMatch(/too large/);
  });

  it('mounts only the routes it is given (one route per process)', async () => {
    const onlyRerank = createApp(runtime, { routes: ['rerank'] });
    const json = { 'Content-Type': 'application/json' };
    expect((await onlyRerank.request('/v3/embeddings', { method: 'POST', headers: json, body: '{}' })).status).toBe(404);
    expect((await onlyRerank.request('/v3/rerank', { method: 'POST', headers: json, body: '{"model":"org/rr","query":"q","documents":["a"]}' })).status).toBe(200);
  });
});
