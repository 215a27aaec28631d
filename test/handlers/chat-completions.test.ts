import { describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { RuntimeError, type GenerationEvent } from '../../runtime/index.ts';
import { createFakeRuntime, postJson, readJson } from '../helpers/fake-runtime.ts';
import { readSse } from '../helpers/sse.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

function setup(keepAliveMs = 15_000) {
  const runtime = createFakeRuntime([{ name: 'chat', task: 'text-generation' }]);
  return { runtime, app: createApp(runtime, { sseKeepAliveMs: keepAliveMs }) };
}
const messages = [{ role: 'user', content: 'Hi' }];

describe('POST /v3/chat/completions', () => {
  it('answers a unary CreateChatCompletionResponse on /v3 and /v1', async () => {
    const { app } = setup();
    for (const path of ['/v3/chat/completions', '/v1/chat/completions']) {
      const res = await postJson(app, path, { model: 'chat', messages });
      expect(res.status).toBe(200);
      const body = await readJson(res);
      expect(body).toMatchObject({
        object: 'chat.completion',
        model: 'chat',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello', refusal: null }, logprobs: null, finish_reason: 'length' }],
        usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
      });
      expect(body.id).toMatch(/^chatcmpl-/);
      if (specsAvailable) expect(specErrors('openai', 'CreateChatCompletionResponse', body)).toEqual([]);
    }
  });

  it('translates every parameter into the runtime request', async () => {
    const { app, runtime } = setup();
    await postJson(app, '/v3/chat/completions', {
      model: 'chat',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hi ' }, { type: 'text', text: 'there' }] },
        { role: 'assistant', content: 'Hello.' },
      ],
      max_completion_tokens: 9,
      max_tokens: 99,
      temperature: 0.5,
      top_p: 0.9,
      n: 2,
      stop: 'END',
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      logit_bias: { '42': -5 },
      logprobs: true,
      top_logprobs: 3,
      seed: 7,
      top_k: 20,
      min_p: 0.05,
      repetition_penalty: 1.1,
      ignore_eos: true,
      response_format: { type: 'text' },
      user: 'u',
    });
    expect(runtime.calls.generate[0]).toMatchObject({
      model: 'chat',
      prompts: [{ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi there' }, { role: 'assistant', content: 'Hello.' }] }],
      maxTokens: 9,
      temperature: 0.5,
      topP: 0.9,
      n: 2,
      stop: ['END'],
      presencePenalty: 0.1,
      frequencyPenalty: 0.2,
      logitBias: { 42: -5 },
      logprobs: 3,
      seed: 7,
      topK: 20,
      minP: 0.05,
      repetitionPenalty: 1.1,
      ignoreEos: true,
    });
  });

  it('streams: role chunk first, content deltas, empty-delta finish, no usage, then [DONE]', async () => {
    const { app } = setup();
    const res = await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const sse = await readSse(res);
    expect(sse.done).toBe(true);
    expect(sse.eventNames).toEqual([]);
    expect(sse.frames.map((f) => f.choices[0]?.delta)).toEqual([{ role: 'assistant', content: '' }, { content: 'Hel' }, { content: 'lo' }, {}]);
    expect(sse.frames.map((f) => f.choices[0]?.finish_reason)).toEqual([null, null, null, 'length']);
    expect(new Set(sse.frames.map((f) => f.id)).size).toBe(1);
    expect(new Set(sse.frames.map((f) => f.created)).size).toBe(1);
    for (const f of sse.frames) {
      expect(f).not.toHaveProperty('usage');
      expect(f.object).toBe('chat.completion.chunk');
      if (specsAvailable) expect(specErrors('openai', 'CreateChatCompletionStreamResponse', f)).toEqual([]);
    }
    expect(sse.raw.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  const toolEvents = (): GenerationEvent[] => [
    { type: 'delta', index: 0, text: '', reasoning: 'Need the weather.', tokenIds: [1] },
    { type: 'delta', index: 0, text: '', tokenIds: [2], toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', callIndex: 0 }] },
    { type: 'delta', index: 0, text: '', tokenIds: [3], toolCalls: [{ name: 'get_time', arguments: '{}', callIndex: 1 }] },
    { type: 'finish', index: 0, reason: 'tool_calls' },
  ];

  it('translates tools, tool_choice, parallel_tool_calls, response_format and tool turns into the runtime request', async () => {
    const { app, runtime } = setup();
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'd', parameters: { type: 'object' } } }, { type: 'function', function: { name: 'now' } }];
    const history = [
      ...messages,
      { role: 'assistant', content: null, reasoning_content: 'thinking', tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'now', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_a', content: '12:00' },
    ];
    await postJson(app, '/v3/chat/completions', { model: 'chat', messages: history, tools, tool_choice: { type: 'function', function: { name: 'now' } }, parallel_tool_calls: false });
    expect(runtime.calls.generate[0]).toMatchObject({
      tools: [{ name: 'get_weather', description: 'd', parameters: { type: 'object' } }, { name: 'now', parameters: { type: 'object', properties: {} } }],
      toolChoice: { name: 'now' },
      parallelToolCalls: false,
      prompts: [{ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: '', reasoning: 'thinking', toolCalls: [{ id: 'call_a', name: 'now', arguments: '{}' }] }, { role: 'tool', content: '12:00', toolCallId: 'call_a' }] }],
    });
    await postJson(app, '/v3/chat/completions', { model: 'chat', messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'integer' } } } });
    expect(runtime.calls.generate[1]?.outputFormat).toEqual({ type: 'json_schema', schema: { type: 'integer' } });
    await postJson(app, '/v3/chat/completions', { model: 'chat', messages, response_format: { type: 'json_object' }, tool_choice: 'required' });
    expect(runtime.calls.generate[2]).toMatchObject({ outputFormat: { type: 'json' }, toolChoice: 'required' });
  });

  it('answers tool calls and reasoning: content null, call ids, finish_reason tool_calls', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = toolEvents;
    const body = await readJson(await postJson(app, '/v3/chat/completions', { model: 'chat', messages }));
    if (specsAvailable) expect(specErrors('openai', 'CreateChatCompletionResponse', body)).toEqual([]);
    const choice = body.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message).toMatchObject({ role: 'assistant', content: null, reasoning_content: 'Need the weather.' });
    expect(choice.message.tool_calls).toEqual([
      { id: expect.stringMatching(/^call_[0-9a-f]{24}$/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: expect.stringMatching(/^call_[0-9a-f]{24}$/), type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
  });

  it('streams reasoning deltas and tool calls as OpenAI does: id and name first, then the arguments', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = toolEvents;
    const sse = await readSse(await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true }));
    for (const f of sse.frames) if (specsAvailable) expect(specErrors('openai', 'CreateChatCompletionStreamResponse', f)).toEqual([]);
    const deltas = sse.frames.map((f) => f.choices[0]?.delta);
    expect(deltas).toEqual([
      { role: 'assistant', content: '' },
      { reasoning_content: 'Need the weather.' },
      { tool_calls: [{ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] },
      { tool_calls: [{ index: 1, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_time', arguments: '' } }] },
      { tool_calls: [{ index: 1, function: { arguments: '{}' } }] },
      {},
    ]);
    expect(sse.frames.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('include_usage: usage null on every chunk and one choices:[] usage chunk before [DONE]', async () => {
    const { app } = setup();
    const sse = await readSse(await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true, stream_options: { include_usage: true } }));
    const last = sse.frames.at(-1);
    expect(last).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } });
    for (const f of sse.frames.slice(0, -1)) expect(f.usage).toBeNull();
    for (const f of sse.frames) if (specsAvailable) expect(specErrors('openai', 'CreateChatCompletionStreamResponse', f)).toEqual([]);
    // stream_options: {} and include_usage: false send no usage.
    for (const stream_options of [{}, { include_usage: false }]) {
      const other = await readSse(await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true, stream_options }));
      for (const f of other.frames) expect(f).not.toHaveProperty('usage');
    }
  });

  it('n=2 streams: a role chunk and a finish per choice index', async () => {
    const { app } = setup();
    const sse = await readSse(await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true, n: 2 }));
    const byIndex = (i: number) => sse.frames.filter((f) => f.choices[0]?.index === i);
    for (const i of [0, 1]) {
      expect(byIndex(i)[0].choices[0].delta.role).toBe('assistant');
      expect(byIndex(i).map((f) => f.choices[0].delta.content ?? '').join('')).toBe('Hello');
      expect(byIndex(i).at(-1).choices[0].finish_reason).toBe('length');
    }
  });

  it('an error after the headers is a data: {"error": ...} frame, and the stream closes', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = () => [{ type: 'delta', index: 0, text: 'a', tokenIds: [1] }, new RuntimeError('internal', 'the engine failed')];
    const sse = await readSse(await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true }));
    expect(sse.frames.at(-1)).toEqual({ error: { message: 'the engine failed', type: 'server_error', param: null, code: null } });
    expect(sse.done).toBe(false);
  });

  it('errors before any output answer plain JSON with a status, not a stream', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = () => [new RuntimeError('queue_full', 'busy', { retryAfterSeconds: 1 })];
    const res = await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await readJson(res)).error.type).toBe('rate_limit_error');
  });

  it('sends `: ping` comments while nothing else is sent', async () => {
    const { app, runtime } = setup(1);
    const original = runtime.generate;
    runtime.generate = async (request) => {
      const g = await original(request);
      return {
        ...g,
        async *[Symbol.asyncIterator]() {
          await new Promise((r) => setTimeout(r, 30)); // a slow prefill
          yield* g;
        },
      };
    };
    const sse = await readSse(await postJson(app, '/v3/chat/completions', { model: 'chat', messages, stream: true }));
    expect(sse.comments.filter((c) => c.trim() === 'ping').length).toBeGreaterThan(0);
    expect(sse.done).toBe(true);
  });

  const bad: Array<[string, unknown, string | null]> = [
    ['missing messages', { model: 'chat' }, 'messages'],
    ['empty messages', { model: 'chat', messages: [] }, 'messages'],
    ['unknown role', { model: 'chat', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
    ['image part', { model: 'chat', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0]'],
    ['a tool message without tool_call_id', { model: 'chat', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    ['tool_calls on a user message', { model: 'chat', messages: [{ role: 'user', content: 'x', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] }] }, 'messages[0].tool_calls'],
    ['a tool with a bad name', { model: 'chat', messages, tools: [{ type: 'function', function: { name: 'no spaces' } }] }, 'tools[0].function.name'],
    ['a tool that is not a function', { model: 'chat', messages, tools: [{ type: 'retrieval' }] }, 'tools[0].type'],
    ['tool_choice of another kind', { model: 'chat', messages, tool_choice: 'sometimes' }, 'tool_choice'],
    ['an unknown response_format', { model: 'chat', messages, response_format: { type: 'xml' } }, 'response_format.type'],
    ['a json_schema without a name', { model: 'chat', messages, response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format.json_schema.name'],
    ['temperature too high', { model: 'chat', messages, temperature: 3 }, 'temperature'],
    ['n zero', { model: 'chat', messages, n: 0 }, 'n'],
    ['five stops', { model: 'chat', messages, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    ['top_logprobs without logprobs', { model: 'chat', messages, top_logprobs: 2 }, 'top_logprobs'],
    ['bad logit_bias key', { model: 'chat', messages, logit_bias: { x: 1 } }, 'logit_bias'],
    // valibot's record skips __proto__; every key the client sent must be checked.
    ['logit_bias with a __proto__ key', { model: 'chat', messages, logit_bias: JSON.parse('{"__proto__": "x"}') }, 'logit_bias'],
    ['logit_bias as an array', { model: 'chat', messages, logit_bias: [] }, 'logit_bias'],
    ['logit_bias value out of range', { model: 'chat', messages, logit_bias: { '1': 101 } }, 'logit_bias'],
    ['stream_options as an array', { model: 'chat', messages, stream_options: [] }, 'stream_options'],
    ['a message without content', { model: 'chat', messages: [{ role: 'user' }] }, 'messages[0].content'],
    ['an assistant message with null content', { model: 'chat', messages: [{ role: 'assistant', content: null }] }, 'messages[0].content'],
    ['a message that is an array', { model: 'chat', messages: [[]] }, 'messages[0]'],
    // Raw JSON text: 1e400 parses to Infinity (JSON.stringify would write null).
    ['temperature 1e400 (Infinity)', `{"model":"chat","messages":${JSON.stringify(messages)},"temperature":1e400}`, 'temperature'],
    ['repetition_penalty 1e400 (Infinity)', `{"model":"chat","messages":${JSON.stringify(messages)},"repetition_penalty":1e400}`, 'repetition_penalty'],
    ['repetition_penalty above 2', { model: 'chat', messages, repetition_penalty: 2.5 }, 'repetition_penalty'],
    ['repetition_penalty 0', { model: 'chat', messages, repetition_penalty: 0 }, 'repetition_penalty'],
    ['top_k not an integer', { model: 'chat', messages, top_k: 1.5 }, 'top_k'],
    ['seed beyond int64', { model: 'chat', messages, seed: 1e300 }, 'seed'],
    ['max_tokens beyond any context', { model: 'chat', messages, max_tokens: 1e300 }, 'max_tokens'],
    ['a body that is an array', [], null],
    ['unknown field', { model: 'chat', messages, max_output_tokens: 5 }, 'max_output_tokens'],
  ];
  it.each(bad)('400 naming the parameter for %s', async (_, body, param) => {
    const { app, runtime } = setup();
    const res = await postJson(app, '/v3/chat/completions', body);
    expect(res.status).toBe(400);
    const json = await readJson(res);
    expect(json.error.param).toBe(param);
    expect(runtime.calls.generate).toHaveLength(0);
  });
});
