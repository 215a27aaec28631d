// The official openai client's Responses API against a listening server on the tiny Llama fixture:
// unary and streamed text, JSON schema output, forced tool calls and tool history; every Response
// and stream event validated against the OpenAPI spec, every JSON output against its schema.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { jsonValidator } from '../helpers/json-validator.ts';
import { readSse } from '../helpers/sse.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

type Params = OpenAI.Responses.ResponseCreateParamsNonStreaming;

const expectSpec = (schema: string, value: unknown) => {
  if (specsAvailable) expect(specErrors('openai', schema, value), schema).toEqual([]);
};
/** Every stream event: the spec's union of them, numbered from 0 in order. */
const expectEvents = (events: Array<{ type: string; sequence_number: number }>) => {
  expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
  for (const e of events) expectSpec('ResponseStreamEvent', e);
};

const WEATHER = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1, maxLength: 12 },
    humidity: { type: 'integer', minimum: 0, maximum: 100 },
    sky: { enum: ['clear', 'cloudy', 'rain', 'snow'] },
    daylight: { type: 'boolean' },
  },
  required: ['city', 'humidity', 'sky', 'daylight'],
  additionalProperties: false,
};

const TOOLS: OpenAI.Responses.FunctionTool[] = [
  {
    type: 'function',
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'], additionalProperties: false },
    strict: true,
  },
  { type: 'function', name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'integer', minimum: -12, maximum: 14 } }, required: ['zone'], additionalProperties: false }, strict: true },
];
const toolSchema = (name: string) => TOOLS.find((t) => t.name === name)?.parameters;

/** `seed` is this server's extension (OpenAI's Responses API has none); the client passes it through. */
const withSeed = <P extends object>(params: P, seed: number) => ({ ...params, seed }) as P;

describe('openai client responses API against a listening server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let url: string;
  let client: OpenAI;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([{ fixture: 'tiny-chat', task: 'text-generation', name: 'tiny-chat' }]));
    url = server.url;
    client = new OpenAI({ baseURL: `${url}/v3`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('unary: a Response cut at max_output_tokens is incomplete, with its text and usage', async () => {
    const r = await client.responses.create({ model: 'tiny-chat', input: 'Hi', max_output_tokens: 8, temperature: 0 });
    expectSpec('Response', r);
    expect(r.object).toBe('response');
    expect(r.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(typeof r.output_text).toBe('string');
    expect(r.usage?.output_tokens).toBe(8);
    expect(r.usage?.total_tokens).toBe((r.usage?.input_tokens ?? 0) + 8);
    expect(r.max_output_tokens).toBe(8);
    // output_text is the client's own join of the message items' text.
    const texts = r.output.flatMap((item) => (item.type === 'message' ? item.content.map((c) => (c.type === 'output_text' ? c.text : '')) : []));
    expect(texts.join('')).toBe(r.output_text);
  });

  it('streamed with for await: output_text deltas join to the unary text; the last event is response.incomplete', async () => {
    const params = { model: 'tiny-chat', input: 'What is the capital of France?', max_output_tokens: 12, temperature: 0 };
    const unary = await client.responses.create(params);
    const stream = await client.responses.create({ ...params, stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expectEvents(events);
    expect(events.map((e) => e.type).slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    const text = events.map((e) => (e.type === 'response.output_text.delta' ? e.delta : '')).join('');
    expect(text).toBe(unary.output_text);
    const last = events.at(-1);
    if (last?.type !== 'response.incomplete') throw new Error(`last event ${last?.type}`);
    // The same usage, except that the second time the prompt's first blocks came from the prefix cache.
    const { input_tokens_details: streamedDetails, ...streamedUsage } = last.response.usage ?? {};
    const { input_tokens_details: unaryDetails, ...unaryUsage } = unary.usage ?? {};
    expect(streamedUsage).toEqual(unaryUsage);
    expect(streamedDetails?.cached_tokens).toBeGreaterThanOrEqual(16);
    expect(streamedDetails?.cached_tokens).toBeGreaterThanOrEqual(unaryDetails?.cached_tokens ?? 0);
    expect(last.response.output.map((i) => i.type)).toEqual(unary.output.map((i) => i.type));
    // The SDK's stream helper rebuilds the same response from the events (it rejects a bad order).
    const rebuilt = await client.responses.stream(params).finalResponse();
    expect(rebuilt.output_text).toBe(unary.output_text);
    expect(rebuilt.status).toBe('incomplete');
  });

  it('text.format json_schema: the output text parses and validates against the schema', async () => {
    const validate = jsonValidator.compile(WEATHER);
    for (let seed = 1; seed <= 3; seed++) {
      const r = await client.responses.create(
        withSeed<Params>({ model: 'tiny-chat', input: 'Describe the weather in Paris as JSON.', max_output_tokens: 300, temperature: 1, text: { format: { type: 'json_schema', name: 'x', schema: WEATHER, strict: true } } }, seed),
      );
      expectSpec('Response', r);
      expect(r.status).toBe('completed');
      expect(r.text?.format).toMatchObject({ type: 'json_schema', name: 'x', strict: true });
      const value = JSON.parse(r.output_text);
      expect(validate(value), `${r.output_text} ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it("tool_choice required without parallel calls: one function_call item, arguments valid against the tool's schema", async () => {
    for (let seed = 1; seed <= 3; seed++) {
      const r = await client.responses.create(
        withSeed<Params>({ model: 'tiny-chat', input: 'What is the weather in Paris?', tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, max_output_tokens: 200, temperature: 1 }, seed),
      );
      expectSpec('Response', r);
      expect(r.status).toBe('completed');
      // One call and nothing else: no text, no reasoning.
      expect(r.output.map((i) => i.type)).toEqual(['function_call']);
      const call = r.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
      expect(call).toMatchObject({ id: expect.stringMatching(/^fc_/), call_id: expect.stringMatching(/^call_[0-9a-f]{24}$/), status: 'completed' });
      const schema = toolSchema(call.name);
      expect(schema, call.name).toBeDefined();
      expect(jsonValidator.validate(schema as object, JSON.parse(call.arguments)), call.arguments).toBe(true);
      expect(r.tool_choice).toBe('required');
      expect(r.parallel_tool_calls).toBe(false);
    }
  });

  it('a streamed tool call: added with empty arguments, the arguments delta, and the done item equals the unary one', async () => {
    const params = withSeed<Params>({ model: 'tiny-chat', input: 'What time is it in Tokyo?', tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, max_output_tokens: 200, temperature: 1 }, 11);
    const unary = await client.responses.create(params);
    const call = unary.output.find((i) => i.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    const stream = await client.responses.create({ ...params, stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expectEvents(events);
    const added = events.find((e) => e.type === 'response.output_item.added' && e.item.type === 'function_call');
    const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta');
    const done = events.find((e) => e.type === 'response.output_item.done' && e.item.type === 'function_call');
    if (added?.type !== 'response.output_item.added' || done?.type !== 'response.output_item.done') throw new Error('no function_call item streamed');
    expect(added.item).toMatchObject({ type: 'function_call', arguments: '', status: 'in_progress' });
    expect(deltas.map((d) => d.item_id)).toEqual(deltas.map(() => added.item.id));
    expect(deltas.map((d) => d.delta).join('')).toBe(call.arguments);
    // The same call; only its ids are new.
    expect({ ...done.item, id: call.id, call_id: call.call_id }).toEqual(call);
    expect(events.at(-1)?.type).toBe('response.completed');
  });

  it('an input with a function_call and its function_call_output renders the tool turn and answers', async () => {
    const question = { role: 'user' as const, content: 'What is the weather in Paris?' };
    const r = await client.responses.create({
      model: 'tiny-chat',
      tools: TOOLS,
      max_output_tokens: 5,
      input: [
        question,
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city": "Paris", "unit": "celsius"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"temperature": 21}' },
      ],
    });
    expectSpec('Response', r);
    expect(['completed', 'incomplete']).toContain(r.status);
    const plain = await client.responses.create({ model: 'tiny-chat', tools: TOOLS, max_output_tokens: 1, input: [question] });
    expect(r.usage!.input_tokens).toBeGreaterThan(plain.usage!.input_tokens + 10);
  });

  it('store: true and previous_response_id are 400s naming the field; the /v1 mount answers too', async () => {
    for (const [extra, param] of [
      [{ store: true }, 'store'],
      [{ previous_response_id: 'resp_1' }, 'previous_response_id'],
    ] as const) {
      const err = await client.responses.create({ model: 'tiny-chat', input: 'Hi', max_output_tokens: 2, ...extra }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(((err as InstanceType<typeof OpenAI.BadRequestError>).error as { param: string }).param).toBe(param);
    }
    for (const base of [`${url}/v1`, `${url}/v2/models/tiny-chat/infer`]) {
      const other = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
      expect((await other.responses.create({ model: 'tiny-chat', input: 'Hi', max_output_tokens: 2 })).usage?.output_tokens).toBe(2);
    }
    const v1 = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await v1.responses.create({ model: 'tiny-chat', input: 'Hi', max_output_tokens: 2, store: false });
    expect(r.usage?.output_tokens).toBe(2);
  });

  it('curl -N sees a clean event stream: each event named in its event line, no [DONE]', async () => {
    const res = await fetch(`${url}/v3/responses`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'tiny-chat', input: 'Hi', max_output_tokens: 3, stream: true }) });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const sse = await readSse(res);
    expect(sse.done).toBe(false);
    expect(sse.raw).not.toContain('[DONE]');
    expect(sse.raw).toMatch(/^event: response\.created\ndata: \{"type":"response\.created",/);
    expect(sse.eventNames).toEqual(sse.frames.map((f) => f.type));
    expectEvents(sse.frames);
    expect(sse.frames.at(-1).type).toBe('response.incomplete');
  });
});
