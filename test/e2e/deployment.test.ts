// Deployment shapes: one route per process loads only that route's models and mounts only it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';

describe('one route per process', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer(
      fixtureConfig([
        { fixture: 'tiny-embed', task: 'embeddings', name: 'emb' },
        // A rerank model whose folder does not exist: loading it would fail, so it must not be loaded.
        { fixture: 'tiny-rerank', task: 'rerank', name: 'rr', path: '/nonexistent/model' },
      ]),
      'embeddings',
    );
  });
  afterAll(() => server.close());

  it('serves embeddings and lists only its own models', async () => {
    const ok = await fetch(`${server.url}/v3/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'emb', input: 'x' }) });
    expect(ok.status).toBe(200);
    const models = (await (await fetch(`${server.url}/v3/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(['emb']);
    expect((await fetch(`${server.url}/v2/health/ready`)).status).toBe(200);
  });

  it('does not mount the other routes', async () => {
    const res = await fetch(`${server.url}/v3/rerank`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'rr', query: 'q', documents: ['a'] }) });
    expect(res.status).toBe(404);
  });
});

describe('ROUTE=tensor and ROUTE=oip', () => {
  it('tensor: only the OIP routes, over tensor models only', async () => {
    const server = await startServer(
      fixtureConfig([
        { fixture: 'tiny-mlp', task: 'tensor', name: 'mlp' },
        // Would fail to load if loaded: a tensor-only process must not load it.
        { fixture: 'tiny-embed', task: 'embeddings', name: 'emb', path: '/nonexistent/model' },
      ]),
      'tensor',
    );
    try {
      expect(((await (await fetch(`${server.url}/v2/models`)).json()) as { models: string[] }).models).toEqual(['mlp']);
      expect((await fetch(`${server.url}/v2/models/mlp`)).status).toBe(200);
      const v3 = await fetch(`${server.url}/v3/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"model":"emb","input":"x"}' });
      expect(v3.status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('oip: the OIP routes over every task, no OpenAI routes', async () => {
    const server = await startServer(fixtureConfig([{ fixture: 'tiny-embed', task: 'embeddings', name: 'emb' }, { fixture: 'tiny-mlp', task: 'tensor', name: 'mlp' }]), 'oip');
    try {
      expect(((await (await fetch(`${server.url}/v2/models`)).json()) as { models: string[] }).models).toEqual(['emb', 'mlp']);
      const infer = await fetch(`${server.url}/v2/models/emb/infer`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['hi'] }] }),
      });
      expect(infer.status).toBe(200);
      expect((await fetch(`${server.url}/v3/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"model":"emb","input":"x"}' })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
