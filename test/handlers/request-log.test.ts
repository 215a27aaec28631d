// x-request-id is honoured or made, and returned; one record per request with route, model,
// status and duration, and never the body.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import type { RequestRecord } from '../../handlers/shared/request-log.ts';
import { createFakeRuntime, postJson } from '../helpers/fake-runtime.ts';

describe('request ids and the request log', () => {
  const setup = () => {
    const records: RequestRecord[] = [];
    const app = createApp(createFakeRuntime([{ name: 'chat', task: 'text-generation' }]), { requestLog: (r) => records.push(r) });
    return { app, records };
  };

  it('keeps a sane x-request-id, makes one otherwise, and returns it', async () => {
    const { app } = setup();
    const kept = await app.request('/health', { headers: { 'x-request-id': 'trace-42.a' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.a');
    const made = await app.request('/health', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await app.request('/health')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('one record per request: route pattern, model, status, duration; no prompt', async () => {
    const { app, records } = setup();
    const secret = 'my secret prompt';
    await postJson(app, '/v3/chat/completions', { model: 'chat', messages: [{ role: 'user', content: secret }] }, { 'Content-Type': 'application/json', 'x-request-id': 'r1' });
    await postJson(app, '/v3/chat/completions', { model: 'chat', messages: [] });
    await app.request('/v3/nowhere');
    expect(records).toHaveLength(3);
    expect(records[0]).toMatchObject({ request_id: 'r1', method: 'POST', route: '/v3/chat/completions', model: 'chat', status: 200 });
    expect(records[0]?.duration_ms).toBeGreaterThanOrEqual(0);
    expect(records[1]).toMatchObject({ route: '/v3/chat/completions', status: 400 });
    expect(records[2]).toMatchObject({ status: 404, path: '/v3/nowhere' });
    expect(JSON.stringify(records)).not.toContain(secret);
  });
  it("a generation's record has its tokens and time to first token; a stream's is written when the stream ends", async () => {
    const { app, records } = setup();
    await postJson(app, '/v3/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
    expect(records[0]).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number), cached_tokens: 0 });
    expect(records[0]?.completion_tokens).toBeGreaterThan(0);
    expect(records[0]?.ttft_ms).toBeGreaterThanOrEqual(0);
    const res = await postJson(app, '/v3/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'hi' }], stream: true });
    // Headers are out, the body not read yet: no line before the stream has ended.
    expect(records).toHaveLength(1);
    await res.text();
    await new Promise((r) => setImmediate(r));
    expect(records).toHaveLength(2);
    expect(records[1]).toMatchObject({ route: '/v3/chat/completions', status: 200, completion_tokens: records[0]?.completion_tokens });
    expect(records[1]?.ttft_ms).toBeGreaterThanOrEqual(0);
    // Requests that are not generations carry no token fields.
    await app.request('/health');
    expect(records[2]).not.toHaveProperty('prompt_tokens');
  });
  it('an error answer says why; prompts appear only with LOG_PROMPTS (logPrompts)', async () => {
    const { app, records } = setup();
    await postJson(app, '/v3/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'secret' }], temperature: 9 });
    expect(records[0]).toMatchObject({ status: 400, error: expect.stringContaining('temperature') });
    expect(JSON.stringify(records)).not.toContain('secret');
    const logged: RequestRecord[] = [];
    const withPrompts = createApp(createFakeRuntime([{ name: 'chat', task: 'text-generation' }]), { requestLog: (r) => logged.push(r), logPrompts: true });
    await postJson(withPrompts, '/v3/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'secret' }] });
    expect(JSON.stringify(logged[0]?.prompt)).toContain('secret');
  });
});
