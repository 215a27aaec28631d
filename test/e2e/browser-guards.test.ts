// What a web page can send to a local server: no JSON without a JSON Content-Type, no answers to
// a rebound DNS name — through the real server on a real port, with raw node:http requests.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { createFakeRuntime } from '../helpers/fake-runtime.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';

function send(url: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const embedBody = JSON.stringify({ model: 'tiny-embed', input: 'hello' });

describe('browser guards on a loopback-bound server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([{ fixture: 'tiny-embed', task: 'embeddings' }, { fixture: 'tiny-rerank', task: 'rerank' }]));
  });
  afterAll(() => server.close());

  it('answers loopback names', async () => {
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, 'localhost', `[::1]:${server.port}`, 'app.localhost']) {
      expect((await send(server.url, '/v3/embeddings', { Host: host, 'Content-Type': 'application/json' }, embedBody)).status).toBe(200);
    }
  });

  it('403 in the envelope for a rebound name, on every route', async () => {
    const evil = await send(server.url, '/v3/embeddings', { Host: `attacker.example:${server.port}`, 'Content-Type': 'application/json' }, embedBody);
    expect(evil.status).toBe(403);
    expect(evil.json.error).toMatchObject({ type: 'invalid_request_error', param: null, code: null });
    expect(evil.json.error.message).toMatch(/attacker\.example/);
    const rerank = await send(server.url, '/v3/rerank', { Host: '192.168.1.10', 'Content-Type': 'application/json' }, JSON.stringify({ model: 'tiny-rerank', query: 'q', documents: ['a'] }));
    expect(rerank.status).toBe(403);
    expect(rerank.json.message).toBe(rerank.json.error.message); // Cohere's envelope on rerank paths
  });

  it('415 for a text/plain body, the no-preflight request a page can make', async () => {
    const res = await send(server.url, '/v3/embeddings', { Host: `127.0.0.1:${server.port}`, 'Content-Type': 'text/plain;charset=UTF-8' }, embedBody);
    expect(res.status).toBe(415);
    expect(res.json.error.message).toMatch(/application\/json/);
  });
});

describe('configured hosts', () => {
  const app = createApp(createFakeRuntime([{ name: 'emb', task: 'embeddings' }]), { allowedHosts: ['models.internal', '.corp.example'] });
  const post = (host: string) =>
    app.request('/v3/embeddings', { method: 'POST', headers: { Host: host, 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'emb', input: 'x' }) });

  it.each(['models.internal:8000', 'MODELS.internal', 'corp.example', 'a.b.corp.example:1', '127.0.0.1'])('answers %s', async (host) => {
    expect((await post(host)).status).toBe(200);
  });

  it.each(['models.internal.evil', 'evilcorp.example', 'example', '10.0.0.1:8000'])('refuses %s', async (host) => {
    expect((await post(host)).status).toBe(403);
  });

  it('health probes answer whatever the Host (kubelet sends the pod IP); nothing else does', async () => {
    for (const path of ['/health', '/v2/health/live', '/v2/health/ready']) expect((await app.request(path, { headers: { Host: '10.1.2.3:8000' } })).status).toBe(200);
    expect((await app.request('/v3/models', { headers: { Host: '10.1.2.3:8000' } })).status).toBe(403);
  });

  it('`*` turns the check off', async () => {
    const open = createApp(createFakeRuntime([{ name: 'emb', task: 'embeddings' }]), { allowedHosts: ['*'] });
    const res = await open.request('/v3/embeddings', { method: 'POST', headers: { Host: 'anything.example', 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'emb', input: 'x' }) });
    expect(res.status).toBe(200);
  });
});
