// /openapi.json is generated from the composed app: every route it mounts, with the request
// schema its validator uses; /docs lists the same operations.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { createFakeRuntime } from '../helpers/fake-runtime.ts';

type Doc = { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> }; parameters?: Array<{ name: string }> }>> };

describe('OpenAPI document and docs page', () => {
  const app = createApp(createFakeRuntime([{ name: 'chat', task: 'text-generation' }]));
  const doc = async () => (await (await app.request('/openapi.json')).json()) as Doc;

  it('lists every route the app mounts, under its mount prefixes', async () => {
    const { openapi, paths } = await doc();
    expect(openapi).toBe('3.1.0');
    const expected = new Set(app.routes.filter((r) => r.method !== 'ALL' && !r.path.includes('*')).map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`));
    const listed = new Set(Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    expect(listed).toEqual(expected);
    for (const route of ['post /v3/chat/completions', 'post /v1/chat/completions', 'post /v2/models/{model}/infer/chat/completions', 'post /v1/messages', 'post /v3/responses', 'post /v3/images/generations', 'post /v2/models/{model}/infer', 'get /v2/health/ready', 'get /openapi.json', 'get /docs']) {
      expect(listed, route).toContain(route);
    }
  });

  it('JSON routes carry the schema their validator uses (names, required fields, ranges)', async () => {
    const { paths } = await doc();
    const chat = paths['/v3/chat/completions']?.post?.requestBody?.content['application/json']?.schema;
    expect(chat?.required).toEqual(expect.arrayContaining(['model', 'messages']));
    expect(chat?.properties).toHaveProperty('tools');
    expect(chat?.properties?.temperature).toEqual({ anyOf: [{ type: 'number', minimum: 0, maximum: 2 }, { type: 'null' }] });
    expect(paths['/v1/messages']?.post?.requestBody?.content['application/json']?.schema.required).toEqual(expect.arrayContaining(['model', 'messages', 'max_tokens']));
    expect(Object.keys(paths['/v3/images/edits']?.post?.requestBody?.content ?? {})).toEqual(['multipart/form-data']);
    expect(paths['/v2/models/{model}/infer/chat/completions']?.post?.parameters).toEqual([expect.objectContaining({ name: 'model' })]);
  });

  it('/docs is an HTML page with one entry per operation and no outside assets', async () => {
    const res = await app.request('/docs');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await res.text();
    const { paths } = await doc();
    const operations = Object.values(paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    expect(page.match(/<li class="operation"/g)).toHaveLength(operations);
    expect(page).not.toMatch(/<script|<link|\ssrc=/);
  });
});
