// Grammar-enforced output through the official openai client on a listening server: JSON schemas,
// JSON mode and forced tool calls from the random-weight tiny Llama, every output validated with
// ajv; the schema keywords the grammar engine cannot enforce answered with a 400 naming them.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHATML_TEMPLATE } from '../../models/builder/byte-bpe.ts';
import { parseConfig } from '../../runtime/index.ts';
import { copyFixture, fixturePath } from '../helpers/fixtures.ts';
import { jsonValidator } from '../helpers/json-validator.ts';
import { startServer } from '../helpers/server.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

const messages = [{ role: 'user' as const, content: 'Describe the weather in Paris as JSON.' }];
const ajv = jsonValidator;
const expectSpec = (schema: string, value: unknown) => {
  if (specsAvailable) expect(specErrors('openai', schema, value)).toEqual([]);
};

/** Nested objects, arrays, enums, bounded numbers and strings, required keys. */
const WEATHER = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1, maxLength: 12 },
    temperature: { type: 'number', minimum: -40, maximum: 50 },
    humidity: { type: 'integer', minimum: 0, maximum: 100 },
    sky: { enum: ['clear', 'cloudy', 'rain', 'snow'] },
    wind: {
      type: 'object',
      properties: { speed: { type: 'number', exclusiveMinimum: 0, maximum: 200 }, direction: { enum: ['N', 'E', 'S', 'W'] } },
      required: ['speed', 'direction'],
    },
    alerts: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
    daylight: { type: 'boolean' },
  },
  required: ['city', 'temperature', 'humidity', 'sky', 'wind', 'alerts', 'daylight'],
};

const TOOLS = [
  {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'] },
    },
  },
  { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'integer', minimum: -12, maximum: 14 } }, required: ['zone'] } } },
];
const toolSchema = (name: string) => TOOLS.find((t) => t.function.name === name)?.function.parameters;

const schemaFormat = (schema: Record<string, unknown>) => ({ type: 'json_schema' as const, json_schema: { name: 'answer', schema, strict: true } });

describe('structured output and tool calls through the openai client', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let client: OpenAI;
  const plain = mkdtempSync(join(tmpdir(), 'ovserve-plain-chat-'));
  beforeAll(async () => {
    // The same model with a ChatML template that has no tool support.
    copyFixture('tiny-chat', join(plain, 'm'));
    const configFile = join(plain, 'm', 'tokenizer_config.json');
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, 'utf8')), chat_template: CHATML_TEMPLATE }));
    server = await startServer(
      parseConfig(
        {
          models: [
            { name: 'tiny-chat', task: 'text-generation', path: fixturePath('tiny-chat') },
            { name: 'no-tools', task: 'text-generation', path: join(plain, 'm') },
          ],
        },
        plain,
      ),
    );
    client = new OpenAI({ baseURL: `${server.url}/v3`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server.close();
    rmSync(plain, { recursive: true, force: true });
  });

  it('json_schema: 50 sampled answers all parse and validate against the schema', async () => {
    const validate = ajv.compile(WEATHER);
    const answers = [];
    for (let seed = 1; seed <= 5; seed++) {
      const r = await client.chat.completions.create({ model: 'tiny-chat', messages, n: 10, seed, temperature: 1, max_tokens: 400, response_format: schemaFormat(WEATHER) });
      expectSpec('CreateChatCompletionResponse', r);
      answers.push(...r.choices);
    }
    expect(answers).toHaveLength(50);
    for (const choice of answers) {
      expect(choice.finish_reason).toBe('stop');
      const value = JSON.parse(choice.message.content ?? '');
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('the same model without enforcement does not write valid JSON (the check above can fail)', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, n: 10, seed: 1, temperature: 1, max_tokens: 60 });
    const parses = r.choices.filter((c) => {
      try {
        JSON.parse(c.message.content ?? '');
        return true;
      } catch {
        return false;
      }
    });
    expect(parses).toHaveLength(0);
  });

  it('json_object: every answer that ends is one valid JSON value', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, n: 10, seed: 4, temperature: 1, max_tokens: 300, response_format: { type: 'json_object' } });
    const ended = r.choices.filter((c) => c.finish_reason === 'stop');
    expect(ended.length).toBeGreaterThan(0);
    for (const c of ended) expect(() => JSON.parse(c.message.content ?? '')).not.toThrow();
  });

  it('strings with length bounds hold no raw control characters and fit the bounds', async () => {
    const schema = { type: 'object', properties: { s: { type: 'string', minLength: 2, maxLength: 6 }, t: { type: 'string', maxLength: 3 } }, required: ['s', 't'] };
    const validate = ajv.compile(schema);
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, n: 20, seed: 9, temperature: 1, max_tokens: 100, response_format: schemaFormat(schema) });
    for (const c of r.choices) {
      expect(c.message.content).not.toMatch(/[\u0000-\u001f]/);
      expect(validate(JSON.parse(c.message.content ?? ''))).toBe(true);
    }
  });

  it('numbers with bounds stay inside them, also when no integer fits', async () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'number', minimum: 0.5, maximum: 0.7 }, b: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 3 }, c: { type: 'number', minimum: 1.5, maximum: 10 } },
      required: ['a', 'b', 'c'],
    };
    const validate = ajv.compile(schema);
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, n: 20, seed: 2, temperature: 1, max_tokens: 100, response_format: schemaFormat(schema) });
    for (const c of r.choices) expect(validate(JSON.parse(c.message.content ?? '')), c.message.content ?? '').toBe(true);
  });

  it.each([
    ['multipleOf', { type: 'integer', multipleOf: 3 }],
    ['uniqueItems', { type: 'array', items: { type: 'integer' }, uniqueItems: true }],
    ['not', { not: { type: 'string' } }],
    ['if', { if: { type: 'integer' }, then: { minimum: 3 } }],
    ['contains', { type: 'array', contains: { const: 1 } }],
    ['minProperties', { type: 'object', minProperties: 1 }],
    ['allOf', { allOf: [{ type: 'integer' }, { minimum: 3 }] }],
    ['oneOf', { oneOf: [{ type: 'integer' }, { type: 'number' }] }],
    ['format', { type: 'string', format: 'date' }],
  ])('a schema with %s is a 400 naming the keyword, and the server keeps serving', async (keyword, inner) => {
    const schema = { type: 'object', properties: { x: inner }, required: ['x'] };
    const err = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 5, response_format: schemaFormat(schema) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const error = (err as InstanceType<typeof OpenAI.BadRequestError>).error as { message: string; param: string };
    expect(error.param).toBe('response_format');
    expect(error.message).toContain(`'${keyword}'`);
    expect(error.message).toContain('/properties/x');
    const after = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 40, temperature: 0, response_format: schemaFormat({ type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }) });
    expect(JSON.parse(after.choices[0]!.message.content ?? '')).toEqual({ ok: expect.any(Boolean) });
  });

  it("schemas the engine itself rejects are a 400 with its reason, and a constrained stream running meanwhile is unharmed", async () => {
    const running = client.chat.completions.create({ model: 'tiny-chat', messages, n: 4, seed: 3, temperature: 1, max_tokens: 400, response_format: schemaFormat(WEATHER) });
    for (const [schema, reason] of [
      [{ type: 'array', minItems: 5, maxItems: 2 }, 'minItems is greater than maxItems'],
      [{ type: 'string', pattern: '(' }, 'The parenthesis is not closed'],
      [{ type: 'integer', minimum: 5, maximum: 2 }, 'minimum greater than maximum'],
      [{ type: 'foo' }, 'Unsupported type'],
    ] as const) {
      const err = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 5, response_format: schemaFormat({ type: 'object', properties: { x: schema } }) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      const error = (err as InstanceType<typeof OpenAI.BadRequestError>).error as { message: string; param: string };
      expect(error.param).toBe('response_format');
      expect(error.message).toContain(reason);
    }
    const validate = ajv.compile(WEATHER);
    for (const c of (await running).choices) expect(validate(JSON.parse(c.message.content ?? ''))).toBe(true);
  });

  it('a schema too large to compile without stalling the server is a 400 naming response_format', async () => {
    const properties = Object.fromEntries(Array.from({ length: 700 }, (_, i) => [`field_number_${i}`, { type: 'integer', minimum: 0, maximum: 9 }]));
    const err = await client.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 5, response_format: schemaFormat({ type: 'object', properties }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const error = (err as InstanceType<typeof OpenAI.BadRequestError>).error as { message: string; param: string };
    expect(error.param).toBe('response_format');
    expect(error.message).toMatch(/at most 32768/);
  });

  it('chat.completions.parse with a JSON schema gives the parsed object', async () => {
    const r = await client.chat.completions.parse({ model: 'tiny-chat', messages, seed: 3, temperature: 1, max_tokens: 400, response_format: schemaFormat(WEATHER) });
    const parsed = r.choices[0]!.message.parsed;
    expect(parsed).toEqual(JSON.parse(r.choices[0]!.message.content ?? ''));
    expect(ajv.validate(WEATHER, parsed)).toBe(true);
  });

  it("tool_choice required: 50 answers are calls of the tools, arguments valid against each tool's schema", async () => {
    const calls = [];
    for (let seed = 1; seed <= 5; seed++) {
      // One call each, so every answer ends (parallel calls from a random model may go on to max_tokens).
      const r = await client.chat.completions.create({ model: 'tiny-chat', messages, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, n: 10, seed, temperature: 1, max_tokens: 300 });
      expectSpec('CreateChatCompletionResponse', r);
      for (const c of r.choices) {
        expect(c.finish_reason).toBe('tool_calls');
        expect(c.message.tool_calls?.length).toBeGreaterThan(0);
        calls.push(...(c.message.tool_calls ?? []));
      }
    }
    expect(calls).toHaveLength(50);
    expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
    for (const call of calls) {
      if (call.type !== 'function') throw new Error('not a function call');
      expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
      const schema = toolSchema(call.function.name);
      expect(schema, call.function.name).toBeDefined();
      expect(ajv.validate(schema as object, JSON.parse(call.function.arguments)), call.function.arguments).toBe(true);
    }
  });

  it('parallel calls: every completed call is valid, and answers that end have one or more', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, tools: TOOLS, tool_choice: 'required', n: 10, seed: 7, temperature: 1, max_tokens: 300 });
    const ended = r.choices.filter((c) => c.finish_reason === 'tool_calls');
    expect(ended.length).toBeGreaterThan(0);
    expect(r.choices.map((c) => c.finish_reason).every((f) => f === 'tool_calls' || f === 'length')).toBe(true);
    for (const c of r.choices) {
      for (const call of c.message.tool_calls ?? []) {
        if (call.type !== 'function') throw new Error('not a function call');
        expect(ajv.validate(toolSchema(call.function.name) as object, JSON.parse(call.function.arguments))).toBe(true);
      }
    }
    expect(ended.some((c) => (c.message.tool_calls?.length ?? 0) > 1)).toBe(true);
  });

  it('a named tool_choice gives exactly one call of that tool', async () => {
    const named = await client.chat.completions.create({ model: 'tiny-chat', messages, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } }, n: 5, seed: 1, temperature: 1, max_tokens: 100 });
    for (const c of named.choices) {
      expect(c.message.tool_calls?.map((t) => (t.type === 'function' ? t.function.name : t.type))).toEqual(['get_time']);
      expect(c.message.content).toBeNull();
    }
  });

  it('streamed tool calls: id and name first, then arguments; they reassemble to the unary answer', async () => {
    const request = { model: 'tiny-chat', messages, tools: TOOLS, tool_choice: 'required' as const, parallel_tool_calls: false, seed: 11, temperature: 1, max_tokens: 300 };
    const unary = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true });
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      expectSpec('CreateChatCompletionStreamResponse', chunk);
      const choice = chunk.choices[0];
      finish = choice?.finish_reason ?? finish;
      for (const delta of choice?.delta.tool_calls ?? []) {
        if (delta.id !== undefined) {
          expect(delta.index).toBe(calls.length);
          calls.push({ id: delta.id, name: delta.function?.name ?? '', arguments: delta.function?.arguments ?? '' });
        } else (calls[delta.index] as { arguments: string }).arguments += delta.function?.arguments ?? '';
      }
    }
    expect(finish).toBe('tool_calls');
    const expected = (unary.choices[0]!.message.tool_calls ?? []).map((c) => (c.type === 'function' ? { name: c.function.name, arguments: c.function.arguments } : {}));
    expect(calls.map(({ name, arguments: args }) => ({ name, arguments: args }))).toEqual(expected);
  });

  it('tool_choice auto: the answer is text or calls, and any call is valid', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-chat', messages, tools: TOOLS, n: 10, seed: 5, temperature: 1, max_tokens: 60 });
    for (const c of r.choices) {
      for (const call of c.message.tool_calls ?? []) {
        if (call.type !== 'function') throw new Error('not a function call');
        expect(ajv.validate(toolSchema(call.function.name) as object, JSON.parse(call.function.arguments))).toBe(true);
      }
      if (c.message.tool_calls?.length) expect(c.finish_reason).toBe('tool_calls');
    }
  });

  it('a conversation with tool calls and tool results renders and answers', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny-chat',
      max_tokens: 5,
      tools: TOOLS,
      messages: [
        ...messages,
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "celsius"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' },
      ],
    });
    expect(r.choices[0]!.finish_reason).toMatch(/^(stop|length|tool_calls)$/);
    const withoutTools = await client.chat.completions.create({ model: 'tiny-chat', max_tokens: 1, messages });
    expect(r.usage!.prompt_tokens).toBeGreaterThan(withoutTools.usage!.prompt_tokens + 50);
  });

  it('a model whose template has no tool support answers tools with a 400 naming tools', async () => {
    const err = await client.chat.completions.create({ model: 'no-tools', messages, tools: TOOLS }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(((err as InstanceType<typeof OpenAI.BadRequestError>).error as { param: string }).param).toBe('tools');
    const ok = await client.chat.completions.create({ model: 'no-tools', messages, max_tokens: 30, response_format: schemaFormat({ type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['n'] }) });
    expect(JSON.parse(ok.choices[0]!.message.content ?? '')).toEqual({ n: expect.any(Number) });
  });

  it('tool_choice naming an unknown tool, or required without tools, is a 400 naming tool_choice', async () => {
    for (const body of [
      { tools: TOOLS, tool_choice: { type: 'function' as const, function: { name: 'nope' } } },
      { tool_choice: 'required' as const },
    ]) {
      const err = await client.chat.completions.create({ model: 'tiny-chat', messages, ...body }).catch((e: unknown) => e);
      expect(((err as InstanceType<typeof OpenAI.BadRequestError>).error as { param: string }).param).toBe('tool_choice');
    }
  });
});
