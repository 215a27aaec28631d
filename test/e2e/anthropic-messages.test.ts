// The official @anthropic-ai/sdk, unchanged, against a listening server: Messages unary and
// streamed, tools with tool_use / tool_result turns, count_tokens, Anthropic's error envelope
// and its x-api-key header.
import Anthropic from '@anthropic-ai/sdk';
import { jsonSchemaOutputFormat } from '@anthropic-ai/sdk/helpers/json-schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { jsonValidator } from '../helpers/json-validator.ts';
import { startServer } from '../helpers/server.ts';
import { serve } from '../../wrangler-free-local/serve.ts';

const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
/** The sampling fields Anthropic's newest SDK no longer types but older clients send (and the server honours). */
const sampling = (fields: { temperature?: number; top_p?: number; top_k?: number }) => fields as object;
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'] },
};

describe('@anthropic-ai/sdk against a listening server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let client: Anthropic;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([{ fixture: 'tiny-chat', task: 'text-generation', name: 'tiny-chat' }]));
    client = new Anthropic({ baseURL: server.url, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('messages.create: a message with text content, usage and stop_reason max_tokens', async () => {
    const r = await client.messages.create({ model: 'tiny-chat', max_tokens: 8, messages, ...sampling({ temperature: 0 }) });
    expect(r).toMatchObject({ type: 'message', role: 'assistant', model: 'tiny-chat', stop_reason: 'max_tokens', stop_sequence: null });
    expect(r.id).toMatch(/^msg_/);
    expect(r.content).toEqual([{ type: 'text', text: expect.any(String) }]);
    expect(r.usage.output_tokens).toBe(8);
    expect(r.usage.input_tokens).toBeGreaterThan(5);
  });

  it('the same on /v3 (base URL .../v3)', async () => {
    const v3 = new Anthropic({ baseURL: `${server.url}/v3`, apiKey: 'unused', maxRetries: 0 });
    const r = await v3.messages.create({ model: 'tiny-chat', max_tokens: 3, messages });
    expect(r.usage.output_tokens).toBe(3);
  });

  it('messages.stream: the event sequence assembles into the unary message', async () => {
    const request = { model: 'tiny-chat', max_tokens: 12, messages, ...sampling({ temperature: 0 }) };
    const unary = await client.messages.create(request);
    const stream = client.messages.stream(request);
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types.at(-2)).toBe('message_delta');
    expect(types).toContain('content_block_start');
    expect(types).toContain('content_block_delta');
    expect(types).toContain('content_block_stop');
    expect(final.content).toEqual(unary.content);
    expect(final.stop_reason).toBe(unary.stop_reason);
    expect(final.usage.output_tokens).toBe(unary.usage.output_tokens);
  });

  it('stop_sequences: stop_reason stop_sequence names the one that matched', async () => {
    const stops = ['a', 'e', 'o', 'i', ' '];
    const r = await client.messages.create({ model: 'tiny-chat', max_tokens: 60, messages, ...sampling({ temperature: 0 }), stop_sequences: stops });
    expect(r.stop_reason).toBe('stop_sequence');
    expect(stops).toContain(r.stop_sequence);
    const text = (r.content[0] as { text: string }).text;
    for (const s of stops) expect(text).not.toContain(s);
  });

  it("tools with tool_choice any: a tool_use block whose input validates; stop_reason tool_use", async () => {
    const r = await client.messages.create({ model: 'tiny-chat', max_tokens: 200, messages, ...sampling({ temperature: 1 }), tools: [WEATHER_TOOL], tool_choice: { type: 'any', disable_parallel_tool_use: true } });
    expect(r.stop_reason).toBe('tool_use');
    const uses = r.content.filter((b) => b.type === 'tool_use');
    expect(uses).toHaveLength(1);
    const use = uses[0] as Anthropic.ToolUseBlock;
    expect(use.id).toMatch(/^toolu_/);
    expect(use.name).toBe('get_weather');
    expect(jsonValidator.validate(WEATHER_TOOL.input_schema, use.input)).toBe(true);
  });

  it('a streamed tool call arrives as input_json_delta and assembles to the same input shape', async () => {
    const stream = client.messages.stream({ model: 'tiny-chat', max_tokens: 200, messages, ...sampling({ temperature: 1 }), tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'get_weather' } });
    const deltas: string[] = [];
    stream.on('streamEvent', (e) => {
      if (e.type === 'content_block_delta') deltas.push(e.delta.type);
    });
    const final = await stream.finalMessage();
    expect(deltas).toContain('input_json_delta');
    const use = final.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
    expect(jsonValidator.validate(WEATHER_TOOL.input_schema, use.input)).toBe(true);
    expect(final.stop_reason).toBe('tool_use');
  });

  it('a conversation with tool_use and tool_result blocks renders and answers', async () => {
    const r = await client.messages.create({
      model: 'tiny-chat',
      max_tokens: 4,
      system: 'You are terse.',
      tools: [WEATHER_TOOL],
      messages: [
        ...messages,
        { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '21 degrees' }, { type: 'text', text: 'Thanks' }] },
      ],
    });
    expect(r.usage.output_tokens).toBeGreaterThan(0);
  });

  it('messages.parse with output_config.format: the answer matches the JSON schema', async () => {
    // The SDK's helper drops length and range keywords (Anthropic's own engine lacks them): enums and booleans bound the answer.
    const schema = { type: 'object', properties: { city: { enum: ['Paris', 'Lyon', 'Nice'] }, sunny: { type: 'boolean' }, sky: { enum: ['clear', 'cloudy'] } }, required: ['city', 'sunny', 'sky'], additionalProperties: false } as const;
    const r = await client.messages.parse({ model: 'tiny-chat', max_tokens: 100, messages, output_config: { format: jsonSchemaOutputFormat(schema) } });
    expect(r.stop_reason).toBe('end_turn');
    expect(jsonValidator.validate(schema, r.parsed_output)).toBe(true);
    expect(r.parsed_output).toEqual(JSON.parse((r.content[0] as { text: string }).text));
  });

  it('countTokens counts what messages.create prefills, tools included', async () => {
    const plain = await client.messages.countTokens({ model: 'tiny-chat', messages });
    const created = await client.messages.create({ model: 'tiny-chat', max_tokens: 1, messages });
    // Anthropic counts prompt tokens read from the cache apart from input_tokens.
    expect(plain.input_tokens).toBe(created.usage.input_tokens + (created.usage.cache_read_input_tokens ?? 0));
    const withTools = await client.messages.countTokens({ model: 'tiny-chat', messages, tools: [WEATHER_TOOL] });
    expect(withTools.input_tokens).toBeGreaterThan(plain.input_tokens + 20);
  });

  it("errors come in Anthropic's envelope as the SDK's typed errors", async () => {
    const bad = await client.messages.create({ model: 'tiny-chat', max_tokens: 0, messages }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
    expect((bad as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });
    const missing = await client.messages.create({ model: 'no-such-model', max_tokens: 5, messages }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
    expect((missing as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    const hot = await client.messages.create({ model: 'tiny-chat', max_tokens: 5, messages, ...sampling({ temperature: 1.5 }) }).catch((e: unknown) => e);
    expect(((hot as InstanceType<typeof Anthropic.BadRequestError>).error as { error: { message: string } }).error.message).toContain('temperature');
    const image = await client.messages
      .create({ model: 'tiny-chat', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }] })
      .catch((e: unknown) => e);
    expect(image).toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('with API keys set, x-api-key is accepted and a wrong key is an AuthenticationError', async () => {
    const secured = await serve({ config: fixtureConfig([{ fixture: 'tiny-chat', task: 'text-generation', name: 'tiny-chat' }]), port: 0, host: '127.0.0.1', apiKeys: ['sk-right'], log: () => {} });
    await secured.ready;
    try {
      const ok = await new Anthropic({ baseURL: secured.url, apiKey: 'sk-right', maxRetries: 0 }).messages.create({ model: 'tiny-chat', max_tokens: 2, messages });
      expect(ok.usage.output_tokens).toBe(2);
      const denied = await new Anthropic({ baseURL: secured.url, apiKey: 'sk-wrong', maxRetries: 0 }).messages.create({ model: 'tiny-chat', max_tokens: 2, messages }).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(Anthropic.AuthenticationError);
      expect((denied as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    } finally {
      await secured.close();
    }
  });
});
