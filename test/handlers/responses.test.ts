// POST /responses with the fake runtime: the translation of every field into the runtime request,
// the Response object and its stream events (order, sequence numbers, spec), and the 400s.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createResponsesApp } from '../../handlers/responses/index.ts';
import { RuntimeError, type GeneratedToken, type GenerationEvent } from '../../runtime/index.ts';
import { createFakeRuntime, postJson, readJson } from '../helpers/fake-runtime.ts';
import { readSse } from '../helpers/sse.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

function setup() {
  const runtime = createFakeRuntime([{ name: 'chat', task: 'text-generation' }]);
  // app.ts does not mount the route yet; mounted here as it will be, under /v3 and /v1.
  const app = new Hono();
  app.route('/v3', createResponsesApp(runtime));
  app.route('/v1', createResponsesApp(runtime));
  return { runtime, app };
}

/** Each stream event's own schema in the OpenAI spec. */
const EVENT_SCHEMAS: Record<string, string> = {
  'response.created': 'ResponseCreatedEvent',
  'response.in_progress': 'ResponseInProgressEvent',
  'response.output_item.added': 'ResponseOutputItemAddedEvent',
  'response.output_item.done': 'ResponseOutputItemDoneEvent',
  'response.content_part.added': 'ResponseContentPartAddedEvent',
  'response.content_part.done': 'ResponseContentPartDoneEvent',
  'response.output_text.delta': 'ResponseTextDeltaEvent',
  'response.output_text.done': 'ResponseTextDoneEvent',
  'response.reasoning_text.delta': 'ResponseReasoningTextDeltaEvent',
  'response.reasoning_text.done': 'ResponseReasoningTextDoneEvent',
  'response.function_call_arguments.delta': 'ResponseFunctionCallArgumentsDeltaEvent',
  'response.function_call_arguments.done': 'ResponseFunctionCallArgumentsDoneEvent',
  'response.completed': 'ResponseCompletedEvent',
  'response.incomplete': 'ResponseIncompleteEvent',
  'response.failed': 'ResponseFailedEvent',
  error: 'ResponseErrorEvent',
};

function expectResponse(value: unknown) {
  if (specsAvailable) expect(specErrors('openai', 'Response', value)).toEqual([]);
}

function expectEvents(frames: Array<{ type: string; sequence_number: number }>) {
  expect(frames.map((f) => f.sequence_number)).toEqual(frames.map((_, i) => i));
  for (const f of frames) {
    expect(EVENT_SCHEMAS[f.type], f.type).toBeDefined();
    if (specsAvailable) {
      expect(specErrors('openai', EVENT_SCHEMAS[f.type] as string, f), f.type).toEqual([]);
      expect(specErrors('openai', 'ResponseStreamEvent', f), f.type).toEqual([]);
    }
  }
}

const post = (app: Hono, body: unknown, path = '/v3/responses') => postJson(app, path, body);

const stopEvents = (): GenerationEvent[] => [
  { type: 'delta', index: 0, text: 'Hel', tokenIds: [10] },
  { type: 'delta', index: 0, text: 'lo', tokenIds: [11] },
  { type: 'finish', index: 0, reason: 'stop' },
];

const toolEvents = (): GenerationEvent[] => [
  { type: 'delta', index: 0, text: '', reasoning: 'Need the ', tokenIds: [1] },
  { type: 'delta', index: 0, text: '', reasoning: 'weather.', tokenIds: [2] },
  { type: 'delta', index: 0, text: '', tokenIds: [3], toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', callIndex: 0 }] },
  { type: 'delta', index: 0, text: '', tokenIds: [4], toolCalls: [{ name: 'get_time', arguments: '{}', callIndex: 1 }] },
  { type: 'finish', index: 0, reason: 'tool_calls' },
];

const ID = (prefix: string) => expect.stringMatching(new RegExp(`^${prefix}_[0-9a-f]{48}$`));
const CALL_ID = expect.stringMatching(/^call_[0-9a-f]{24}$/);

describe('POST /v3/responses', () => {
  it('answers a Response on /v3 and /v1: text in a message item, usage, incomplete at the token limit', async () => {
    const { app } = setup();
    for (const path of ['/v3/responses', '/v1/responses']) {
      const res = await post(app, { model: 'chat', input: 'Hi' }, path);
      expect(res.status).toBe(200);
      const body = await readJson(res);
      expectResponse(body);
      expect(body).toMatchObject({
        id: ID('resp'),
        object: 'response',
        created_at: expect.any(Number),
        status: 'incomplete',
        completed_at: null,
        error: null,
        incomplete_details: { reason: 'max_output_tokens' },
        model: 'chat',
        output: [{ type: 'message', id: ID('msg'), status: 'incomplete', role: 'assistant', content: [{ type: 'output_text', text: 'Hello', annotations: [], logprobs: [] }] }],
        usage: { input_tokens: 7, output_tokens: 2, total_tokens: 9, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
        // What the request left out, as OpenAI states it.
        instructions: null,
        tools: [],
        tool_choice: 'auto',
        parallel_tool_calls: true,
        text: { format: { type: 'text' } },
        store: false,
        previous_response_id: null,
        truncation: 'disabled',
        metadata: {},
        temperature: null,
        top_p: null,
        max_output_tokens: null,
      });
      expect(body).not.toHaveProperty('user');
    }
  });

  it('a generation that stops is completed, with completed_at', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = stopEvents;
    const body = await readJson(post(app, { model: 'chat', input: 'Hi' }));
    expectResponse(body);
    expect(body).toMatchObject({ status: 'completed', incomplete_details: null, completed_at: expect.any(Number) });
    expect(body.output[0]).toMatchObject({ type: 'message', status: 'completed', content: [{ text: 'Hello' }] });
  });

  it('translates every field into the runtime request', async () => {
    const { app, runtime } = setup();
    const tools = [
      { type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true },
      { type: 'function', name: 'now', parameters: null, strict: null },
    ];
    const input = [
      { role: 'developer', content: 'Be brief.' },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather ' }, { type: 'input_text', text: 'and time?' }] },
      // An earlier output handed back: ids, statuses and annotations are read past.
      { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'Two calls.' }] },
      { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.', annotations: [], logprobs: [] }] },
      { type: 'function_call', id: 'fc_1', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
      { type: 'function_call', call_id: 'call_b', name: 'now', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_a', output: '{"temp":21}' },
      { type: 'function_call_output', call_id: 'call_b', output: [{ type: 'input_text', text: '12:00' }] },
      { type: 'function_call', call_id: 'call_c', name: 'now', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_c', output: '12:01' },
      { role: 'system', content: 'Answer now.' },
    ];
    const res = await post(app, {
      model: 'chat',
      input,
      instructions: 'You are terse.',
      tools,
      tool_choice: { type: 'function', name: 'now' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object', properties: { ok: { type: 'boolean' } } }, strict: true } },
      max_output_tokens: 9,
      temperature: 0.5,
      top_p: 0.9,
      seed: 7,
      include: ['message.output_text.logprobs', 'reasoning.encrypted_content'],
      top_logprobs: 3,
      metadata: { session: 'a' },
      user: 'u',
      store: false,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      truncation: 'disabled',
      stream: false,
    });
    expect(res.status).toBe(200);
    expect(runtime.calls.generate).toHaveLength(1);
    const request = runtime.calls.generate[0];
    expect(request?.prompts).toEqual([
      {
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Weather and time?' },
          {
            role: 'assistant',
            content: 'Checking.',
            reasoning: 'Two calls.',
            toolCalls: [
              { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
              { id: 'call_b', name: 'now', arguments: '{}' },
            ],
          },
          { role: 'tool', content: '{"temp":21}', toolCallId: 'call_a' },
          { role: 'tool', content: '12:00', toolCallId: 'call_b' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'call_c', name: 'now', arguments: '{}' }] },
          { role: 'tool', content: '12:01', toolCallId: 'call_c' },
          { role: 'system', content: 'Answer now.' },
        ],
      },
    ]);
    expect(request).toMatchObject({
      model: 'chat',
      n: 1,
      maxTokens: 9,
      temperature: 0.5,
      topP: 0.9,
      seed: 7,
      logprobs: 3,
      tools: [
        { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        { name: 'now', parameters: { type: 'object', properties: {} } },
      ],
      toolChoice: { name: 'now' },
      parallelToolCalls: false,
      outputFormat: { type: 'json_schema', schema: { type: 'object', properties: { ok: { type: 'boolean' } } } },
    });
    expect(request?.signal).toBeInstanceOf(AbortSignal);
    // The Response states the request's settings back.
    const body = await readJson(res);
    expectResponse(body);
    expect(body).toMatchObject({
      instructions: 'You are terse.',
      tools: [
        { type: 'function', name: 'get_weather', description: 'Weather for a city', strict: true },
        { type: 'function', name: 'now', description: null, parameters: null, strict: null },
      ],
      tool_choice: { type: 'function', name: 'now' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'answer', strict: true } },
      max_output_tokens: 9,
      temperature: 0.5,
      top_p: 0.9,
      top_logprobs: 3,
      metadata: { session: 'a' },
      user: 'u',
    });
  });

  it('translates the other formats, tool choices and a plain string input', async () => {
    const { app, runtime } = setup();
    await post(app, { model: 'chat', input: 'Hi', text: { format: { type: 'json_object' } }, tool_choice: 'required', tools: [{ type: 'function', name: 'f', parameters: { type: 'object' }, strict: false }] });
    await post(app, { model: 'chat', input: 'Hi', text: { format: { type: 'text' } }, tool_choice: 'none' });
    await post(app, { model: 'chat', input: [{ role: 'user', content: 'Hi' }] });
    const [json, text, plain] = runtime.calls.generate;
    expect(json).toMatchObject({ outputFormat: { type: 'json' }, toolChoice: 'required', tools: [{ name: 'f', parameters: { type: 'object' } }] });
    expect(text).toMatchObject({ outputFormat: { type: 'text' }, toolChoice: 'none' });
    expect(json?.prompts).toEqual([{ messages: [{ role: 'user', content: 'Hi' }] }]);
    expect(plain?.prompts).toEqual(json?.prompts);
    for (const key of ['outputFormat', 'toolChoice', 'tools', 'parallelToolCalls', 'logprobs', 'maxTokens'] as const) expect(plain?.[key]).toBeUndefined();
  });

  it('answers tool calls as function_call items after the reasoning item', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = toolEvents;
    const body = await readJson(post(app, { model: 'chat', input: 'Weather?', tools: [{ type: 'function', name: 'get_weather' }, { type: 'function', name: 'get_time' }] }));
    expectResponse(body);
    expect(body.status).toBe('completed');
    expect(body.output).toEqual([
      { type: 'reasoning', id: ID('rs'), summary: [], content: [{ type: 'reasoning_text', text: 'Need the weather.' }], status: 'completed' },
      { type: 'function_call', id: ID('fc'), call_id: CALL_ID, name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
      { type: 'function_call', id: ID('fc'), call_id: CALL_ID, name: 'get_time', arguments: '{}', status: 'completed' },
    ]);
    expect(new Set(body.output.map((i: { id: string }) => i.id)).size).toBe(3);
    expect(body.output[1].call_id).not.toBe(body.output[2].call_id);
  });

  it('answers reasoning then text as a reasoning item and a message item', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = () => [
      { type: 'delta', index: 0, text: '', reasoning: 'Greet back.', tokenIds: [1] },
      { type: 'delta', index: 0, text: 'Hi', tokenIds: [2] },
      { type: 'delta', index: 0, text: ' there', tokenIds: [3] },
      { type: 'finish', index: 0, reason: 'stop' },
    ];
    const body = await readJson(post(app, { model: 'chat', input: 'Hi' }));
    expectResponse(body);
    expect(body.output.map((i: { type: string }) => i.type)).toEqual(['reasoning', 'message']);
    expect(body.output[0].content).toEqual([{ type: 'reasoning_text', text: 'Greet back.' }]);
    expect(body.output[1].content).toEqual([{ type: 'output_text', text: 'Hi there', annotations: [], logprobs: [] }]);
  });

  it('streams the events OpenAI sends, in its order, numbered from 0, with no [DONE]', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = stopEvents;
    const res = await post(app, { model: 'chat', input: 'Hi', stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const sse = await readSse(res);
    expect(sse.done).toBe(false);
    expect(sse.raw).not.toContain('[DONE]');
    expectEvents(sse.frames);
    expect(sse.frames.map((f) => f.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const [created, inProgress, added, partAdded, d1, d2, textDone, partDone, itemDone, completed] = sse.frames;
    for (const f of [created, inProgress]) expect(f.response).toMatchObject({ status: 'in_progress', output: [], id: completed.response.id, created_at: completed.response.created_at });
    expect(created.response).not.toHaveProperty('usage');
    expect(added).toMatchObject({ output_index: 0, item: { type: 'message', status: 'in_progress', role: 'assistant', content: [] } });
    const where = { item_id: added.item.id, output_index: 0, content_index: 0 };
    expect(partAdded).toMatchObject({ ...where, part: { type: 'output_text', text: '', annotations: [] } });
    expect([d1, d2].map((d) => ({ ...d, sequence_number: 0 }))).toEqual([
      { type: 'response.output_text.delta', ...where, delta: 'Hel', logprobs: [], sequence_number: 0 },
      { type: 'response.output_text.delta', ...where, delta: 'lo', logprobs: [], sequence_number: 0 },
    ]);
    expect(textDone).toMatchObject({ ...where, text: 'Hello' });
    expect(partDone).toMatchObject({ ...where, part: { type: 'output_text', text: 'Hello' } });
    expect(itemDone.item).toEqual({ ...added.item, status: 'completed', content: [{ type: 'output_text', text: 'Hello', annotations: [], logprobs: [] }] });
    expect(completed.response).toMatchObject({ status: 'completed', output: [itemDone.item], usage: { input_tokens: 7, output_tokens: 2, total_tokens: 9 } });
  });

  it('a stream cut by the token limit ends with response.incomplete', async () => {
    const { app } = setup();
    const sse = await readSse(await post(app, { model: 'chat', input: 'Hi', stream: true, max_output_tokens: 2 }));
    expectEvents(sse.frames);
    const last = sse.frames.at(-1);
    expect(last.type).toBe('response.incomplete');
    expect(last.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, max_output_tokens: 2 });
    expect(sse.frames.at(-2)).toMatchObject({ type: 'response.output_item.done', item: { status: 'incomplete' } });
  });

  it('streams reasoning and tool calls: reasoning_text deltas, then each call added with empty arguments, its arguments, done', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = toolEvents;
    const sse = await readSse(await post(app, { model: 'chat', input: 'Weather?', stream: true, tools: [{ type: 'function', name: 'get_weather' }, { type: 'function', name: 'get_time' }] }));
    expectEvents(sse.frames);
    expect(sse.frames.map((f) => f.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const f = sse.frames;
    expect(f[2].item).toEqual({ type: 'reasoning', id: ID('rs'), summary: [], content: [], status: 'in_progress' });
    expect(f[3].part).toEqual({ type: 'reasoning_text', text: '' });
    expect([f[4].delta, f[5].delta, f[6].text]).toEqual(['Need the ', 'weather.', 'Need the weather.']);
    expect(f[9]).toMatchObject({ output_index: 1, item: { type: 'function_call', id: ID('fc'), call_id: CALL_ID, name: 'get_weather', arguments: '', status: 'in_progress' } });
    expect(f[10]).toMatchObject({ item_id: f[9].item.id, output_index: 1, delta: '{"city":"Paris"}' });
    expect(f[11]).toMatchObject({ item_id: f[9].item.id, output_index: 1, name: 'get_weather', arguments: '{"city":"Paris"}' });
    expect(f[12].item).toEqual({ ...f[9].item, arguments: '{"city":"Paris"}', status: 'completed' });
    expect(f[13]).toMatchObject({ output_index: 2, item: { name: 'get_time', arguments: '' } });
    const completed = f.at(-1);
    expect(completed.response.status).toBe('completed');
    expect(completed.response.output).toEqual([f[8].item, f[12].item, f[16].item]);
  });

  it('logprobs when include asks for them: on the output_text part and on each delta', async () => {
    const { app, runtime } = setup();
    const token = (text: string, logprob: number): GeneratedToken => ({ token: text, bytes: [...Buffer.from(text)], logprob, top: [{ token: text, bytes: [...Buffer.from(text)], logprob }, { token: 'x', bytes: [120], logprob: -Infinity }] });
    runtime.onGenerate = () => [
      { type: 'delta', index: 0, text: '', tokenIds: [10], tokens: [token('He', -0.5)] }, // held back, joins the next text
      { type: 'delta', index: 0, text: 'Hel', tokenIds: [11], tokens: [token('l', -0.25)] },
      { type: 'delta', index: 0, text: 'lo', tokenIds: [12], tokens: [token('lo', -1)] },
      { type: 'finish', index: 0, reason: 'stop' },
    ];
    const request = { model: 'chat', input: 'Hi', include: ['message.output_text.logprobs'], top_logprobs: 2 };
    const body = await readJson(post(app, request));
    expectResponse(body);
    expect(runtime.calls.generate[0]?.logprobs).toBe(2);
    const logprobs = body.output[0].content[0].logprobs;
    expect(logprobs.map((l: { token: string }) => l.token)).toEqual(['He', 'l', 'lo']);
    expect(logprobs[0]).toEqual({ token: 'He', logprob: -0.5, bytes: [72, 101], top_logprobs: [{ token: 'He', logprob: -0.5, bytes: [72, 101] }, { token: 'x', logprob: -9999, bytes: [120] }] });
    const sse = await readSse(await post(app, { ...request, stream: true }));
    expectEvents(sse.frames);
    const deltas = sse.frames.filter((f) => f.type === 'response.output_text.delta');
    expect(deltas.map((d) => d.logprobs.map((l: { token: string }) => l.token))).toEqual([['He', 'l'], ['lo']]);
    expect(deltas[0].logprobs[0]).toEqual({ token: 'He', logprob: -0.5, top_logprobs: [{ token: 'He', logprob: -0.5 }, { token: 'x', logprob: -9999 }] });
    // include alone asks for the chosen token only.
    await post(app, { model: 'chat', input: 'Hi', include: ['message.output_text.logprobs'] });
    expect(runtime.calls.generate[2]?.logprobs).toBe(0);
  });

  it('an error after the headers is an error event, then response.failed, and the stream closes', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = () => [{ type: 'delta', index: 0, text: 'a', tokenIds: [1] }, new RuntimeError('internal', 'the engine failed')];
    const sse = await readSse(await post(app, { model: 'chat', input: 'Hi', stream: true }));
    expectEvents(sse.frames);
    expect(sse.frames.slice(-2)).toEqual([
      { type: 'error', code: 'server_error', message: 'the engine failed', param: null, sequence_number: sse.frames.length - 2 },
      expect.objectContaining({ type: 'response.failed', response: expect.objectContaining({ status: 'failed', error: { code: 'server_error', message: 'the engine failed' } }) }),
    ]);
    expect(sse.frames.at(-3)).toMatchObject({ type: 'response.output_item.done', item: { status: 'incomplete', content: [{ text: 'a' }] } });
    expect(sse.done).toBe(false);
  });

  it('errors before any output answer plain JSON with a status, not a stream', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = () => [new RuntimeError('queue_full', 'busy', { retryAfterSeconds: 1 })];
    const res = await post(app, { model: 'chat', input: 'Hi', stream: true });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await readJson(res)).error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
  });

  it.each([
    ['maxTokens', 'max_output_tokens'],
    ['outputFormat', 'text.format'],
    ['toolChoice', 'tool_choice'],
    ['prompt', 'input'],
    ['messages', 'input'],
    ['tools', 'tools'],
    ['topP', 'top_p'],
  ])('a runtime error naming %s names the wire field %s', async (runtimeParam, wireParam) => {
    const { app, runtime } = setup();
    runtime.onGenerate = () => [new RuntimeError('invalid_request', 'no', { param: runtimeParam })];
    const res = await post(app, { model: 'chat', input: 'Hi' });
    expect(res.status).toBe(400);
    expect((await readJson(res)).error).toEqual({ message: 'no', type: 'invalid_request_error', param: wireParam, code: null });
  });

  it('store: false, or left out, is a stateless request like any other', async () => {
    const { app } = setup();
    for (const store of [false, null, undefined]) expect((await post(app, { model: 'chat', input: 'Hi', store })).status).toBe(200);
  });

  it.each([
    ['store: true', { store: true }, 'store', 'unsupported_parameter'],
    ['a previous_response_id', { previous_response_id: 'resp_123' }, 'previous_response_id', null],
  ])('%s is a 400 naming the field: responses are not stored', async (_, extra, param, code) => {
    const { app, runtime } = setup();
    for (const stream of [false, true]) {
      const res = await post(app, { model: 'chat', input: 'Hi', stream, ...extra });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const { error } = await readJson(res);
      expect(error).toMatchObject({ type: 'invalid_request_error', param, code });
      expect(error.message).toMatch(/not stored by this server/);
    }
    expect(runtime.calls.generate).toHaveLength(0);
  });

  const input = 'Hi';
  const bad: Array<[string, unknown, string | null]> = [
    ['missing input', { model: 'chat' }, 'input'],
    ['missing model', { input }, 'model'],
    ['empty input list', { model: 'chat', input: [] }, 'input'],
    ['input of another type', { model: 'chat', input: 5 }, 'input'],
    ['an item of an unknown type', { model: 'chat', input: [{ type: 'item_reference', id: 'x' }] }, 'input[0].type'],
    ['a message with an unknown role', { model: 'chat', input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
    ['a message without content', { model: 'chat', input: [{ role: 'user' }] }, 'input[0].content'],
    ['an image part', { model: 'chat', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 'input[0].content[0]'],
    ['an item that is an array', { model: 'chat', input: [[]] }, 'input[0]'],
    ['a function_call without call_id', { model: 'chat', input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id'],
    ['a function_call with object arguments', { model: 'chat', input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: {} }] }, 'input[0].arguments'],
    ['a function_call_output without output', { model: 'chat', input: [{ type: 'function_call_output', call_id: 'c' }] }, 'input[0].output'],
    ['a function_call_output with a file part', { model: 'chat', input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].output[0]'],
    ['a built-in tool', { model: 'chat', input, tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    ['a chat-shaped tool', { model: 'chat', input, tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools[0].name'],
    ['a tool with a bad name', { model: 'chat', input, tools: [{ type: 'function', name: 'no spaces' }] }, 'tools[0].name'],
    ['tool parameters that are not an object', { model: 'chat', input, tools: [{ type: 'function', name: 'f', parameters: [] }] }, 'tools[0].parameters'],
    ['tool_choice of another kind', { model: 'chat', input, tool_choice: 'sometimes' }, 'tool_choice'],
    ['a chat-shaped tool_choice', { model: 'chat', input, tool_choice: { type: 'function', function: { name: 'f' } } }, 'tool_choice'],
    ['an unknown text.format', { model: 'chat', input, text: { format: { type: 'xml' } } }, 'text.format.type'],
    ['a json_schema format without a name', { model: 'chat', input, text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name'],
    ['a json_schema format without a schema', { model: 'chat', input, text: { format: { type: 'json_schema', name: 'x' } } }, 'text.format.schema'],
    ['a chat-shaped response format', { model: 'chat', input, text: { format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } } }, 'text.format.name'],
    ['text.verbosity', { model: 'chat', input, text: { verbosity: 'low' } }, 'text.verbosity'],
    ['temperature too high', { model: 'chat', input, temperature: 2.5 }, 'temperature'],
    ['temperature below 0', { model: 'chat', input, temperature: -0.1 }, 'temperature'],
    ['temperature 1e400 (Infinity)', '{"model":"chat","input":"Hi","temperature":1e400}', 'temperature'],
    ['top_p above 1', { model: 'chat', input, top_p: 1.5 }, 'top_p'],
    ['max_output_tokens 0', { model: 'chat', input, max_output_tokens: 0 }, 'max_output_tokens'],
    ['max_output_tokens not an integer', { model: 'chat', input, max_output_tokens: 2.5 }, 'max_output_tokens'],
    ['max_output_tokens beyond any context', { model: 'chat', input, max_output_tokens: 1e300 }, 'max_output_tokens'],
    ['top_logprobs above 20', { model: 'chat', input, top_logprobs: 21 }, 'top_logprobs'],
    ['seed beyond int64', { model: 'chat', input, seed: 1e300 }, 'seed'],
    ['parallel_tool_calls not a boolean', { model: 'chat', input, parallel_tool_calls: 'yes' }, 'parallel_tool_calls'],
    ['stream not a boolean', { model: 'chat', input, stream: 1 }, 'stream'],
    ['store not a boolean', { model: 'chat', input, store: 'no' }, 'store'],
    ['metadata with a number', { model: 'chat', input, metadata: { a: 1 } }, 'metadata'],
    ['metadata with 17 keys', { model: 'chat', input, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata'],
    ['an unknown include', { model: 'chat', input, include: ['everything'] }, 'include[0]'],
    ['truncation auto', { model: 'chat', input, truncation: 'auto' }, 'truncation'],
    ['reasoning effort', { model: 'chat', input, reasoning: { effort: 'high' } }, 'reasoning.effort'],
    ['reasoning summary', { model: 'chat', input, reasoning: { summary: 'auto' } }, 'reasoning.summary'],
    ['an unknown field', { model: 'chat', input, max_tokens: 5 }, 'max_tokens'],
    ['chat messages', { model: 'chat', messages: [{ role: 'user', content: 'Hi' }] }, 'input'],
    ['a body that is an array', [], null],
  ];
  it.each(bad)('400 naming the parameter for %s', async (_, body, param) => {
    const { app, runtime } = setup();
    const res = await post(app, body);
    expect(res.status).toBe(400);
    const json = await readJson(res);
    expect(json.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(runtime.calls.generate).toHaveLength(0);
  });
});
