// The agent frameworks, unchanged, against a listening server on the random-weight tiny Llama:
// the Vercel AI SDK (generateObject, generateText and streamText with tools) and LangChain
// (bindTools, withStructuredOutput). Grammar enforcement is what makes the gibberish model's JSON
// and tool arguments valid; every request the clients send is recorded so a failure shows it.
import { createOpenAI } from '@ai-sdk/openai';
import { AIMessageChunk } from '@langchain/core/messages';
import { tool as langchainTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { jsonValidator as ajv } from '../helpers/json-validator.ts';
import { startServer } from '../helpers/server.ts';

/** One HTTP exchange a client made: the JSON body it sent, and the server's status and text. */
type Exchange = { url: string; body: Record<string, unknown>; status: number; text: Promise<string> };

/** A fetch that records every exchange (the response text is read from a clone, not awaited). */
function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const url = input instanceof Request ? input.url : String(input);
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : {};
    log.push({ url, body, status: response.status, text: response.clone().text() });
    return response;
  };
}

/** Bounded, so the random model's grammar-forced output always ends well inside max tokens. */
const Weather = z.object({
  city: z.string().max(10),
  humidity: z.number().int().min(0).max(99),
  sky: z.enum(['clear', 'cloudy', 'rain']),
  alerts: z.array(z.string().max(6)).max(3),
  daylight: z.boolean(),
});

/** The JSON schema a client sent, for ajv (draft 7 here; zod 4 and the clients stamp $schema). */
function sentSchema(schema: unknown): object {
  const { $schema: _, ...rest } = schema as Record<string, unknown>;
  return rest;
}

const CityInput = z.object({ city: z.string().max(12) });
const ZoneInput = z.object({ zone: z.number().int().min(-12).max(14) });
const prompt = 'What is the weather in Paris?';
// The fixture's context is 1024 tokens and its template's tool preamble is long (two tools here
// render to about 830 prompt tokens), so tool requests ask for fewer completion tokens; one
// forced call of these tools takes about 90 (the tokenizer is near character level).
const TOOL_TOKENS = 150;

describe('agent frameworks against a listening server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([{ fixture: 'tiny-chat', task: 'text-generation', name: 'tiny-chat' }]));
  });
  afterAll(() => server.close());

  describe('Vercel AI SDK (@ai-sdk/openai chat model)', () => {
    const log: Exchange[] = [];
    const model = () => createOpenAI({ baseURL: `${server.url}/v3`, apiKey: 'unused', fetch: recordingFetch(log) }).chat('tiny-chat');
    const weatherTools = {
      get_weather: tool({ description: 'Current weather for a city', inputSchema: CityInput }),
      get_time: tool({ description: 'Current time in a UTC offset', inputSchema: ZoneInput }),
    };
    const toolSchemas: Record<string, z.ZodType> = { get_weather: CityInput, get_time: ZoneInput };
    const oneCall = { openai: { parallelToolCalls: false } };

    it('generateObject with a bounded zod schema returns an object valid against it', async () => {
      log.length = 0;
      const objects = [];
      for (const seed of [1, 2, 3]) {
        const { object, finishReason } = await generateObject({ model: model(), schema: Weather, prompt, seed, temperature: 1, maxOutputTokens: 300, maxRetries: 0 });
        expect(finishReason).toBe('stop');
        expect(Weather.parse(object)).toEqual(object);
        objects.push(object);
      }
      // The SDK asks for a strict JSON schema (not a tool), and the server enforced it.
      expect(log).toHaveLength(3);
      for (const [i, { url, body, status }] of log.entries()) {
        expect(url).toBe(`${server.url}/v3/chat/completions`);
        expect(status).toBe(200);
        expect(body.response_format).toMatchObject({ type: 'json_schema', json_schema: { strict: true, schema: { type: 'object' } } });
        expect(body.tools).toBeUndefined();
        const validate = ajv.compile(sentSchema((body.response_format as { json_schema: { schema: unknown } }).json_schema.schema));
        expect(validate(objects[i]), JSON.stringify(validate.errors)).toBe(true);
      }
      // Different seeds, different (still valid) objects: the checks above are not on one fixed answer.
      expect(new Set(objects.map((o) => JSON.stringify(o))).size).toBeGreaterThan(1);
    });

    it('streamText with a required tool yields a valid tool-call part, and generateText gives the same call for the seed', async () => {
      log.length = 0;
      const settings = { model: model(), tools: weatherTools, toolChoice: 'required' as const, prompt, seed: 7, temperature: 1, maxOutputTokens: TOOL_TOKENS, maxRetries: 0, stopWhen: stepCountIs(1), providerOptions: oneCall };
      const result = streamText(settings);
      const streamed: Array<{ toolName: string; input: unknown }> = [];
      let finish: string | undefined;
      for await (const part of result.fullStream) {
        if (part.type === 'error') throw part.error;
        if (part.type === 'tool-call') streamed.push({ toolName: part.toolName, input: part.input });
        if (part.type === 'finish') finish = part.finishReason;
      }
      expect(finish).toBe('tool-calls');
      expect(streamed).toHaveLength(1);
      const [call] = streamed;
      expect(Object.keys(weatherTools)).toContain(call!.toolName);
      expect(toolSchemas[call!.toolName]!.safeParse(call!.input).success, JSON.stringify(call)).toBe(true);

      const unary = await generateText(settings);
      expect(unary.finishReason).toBe('tool-calls');
      expect(unary.toolCalls.map(({ toolName, input }) => ({ toolName, input }))).toEqual(streamed);

      expect(log).toHaveLength(2);
      for (const { body, status } of log) {
        expect(status).toBe(200);
        expect(body).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false, seed: 7 });
      }
      expect(log[0]!.body.stream).toBe(true);
    });

    it('a tool with execute runs once on the parsed input', async () => {
      const seen: unknown[] = [];
      const tools = { get_weather: tool({ description: 'Current weather for a city', inputSchema: CityInput, execute: async (input) => (seen.push(input), { temperature: 21 }) }) };
      const r = await generateText({ model: model(), tools, toolChoice: 'required', prompt, seed: 3, temperature: 1, maxOutputTokens: TOOL_TOKENS, maxRetries: 0, stopWhen: stepCountIs(1), providerOptions: oneCall });
      expect(seen).toHaveLength(1);
      expect(CityInput.parse(seen[0])).toEqual(seen[0]);
      expect(r.toolResults.map((t) => t.output)).toEqual([{ temperature: 21 }]);
    });

    it('a schema the grammar cannot enforce (multipleOf) rejects generateObject with the server 400 naming it', async () => {
      log.length = 0;
      const schema = z.object({ n: z.number().int().multipleOf(3) });
      const err = await generateObject({ model: model(), schema, prompt, maxOutputTokens: 20, maxRetries: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain('multipleOf');
      expect(log.map((e) => e.status)).toEqual([400]);
      expect(JSON.parse(await log[0]!.text)).toMatchObject({ error: { param: 'response_format', message: expect.stringContaining('multipleOf') } });
    });
  });

  describe('LangChain (@langchain/openai ChatOpenAI)', () => {
    const log: Exchange[] = [];
    // Extra request fields (here the seed) go in modelKwargs, which ChatOpenAI merges into the body.
    const chat = (maxTokens = 300, modelKwargs: Record<string, unknown> = {}) =>
      new ChatOpenAI({ model: 'tiny-chat', apiKey: 'unused', temperature: 1, maxTokens, maxRetries: 0, modelKwargs, configuration: { baseURL: `${server.url}/v3`, fetch: recordingFetch(log) } });
    const getWeather = langchainTool(async ({ city }) => `sunny in ${city}`, { name: 'get_weather', description: 'Current weather for a city', schema: CityInput });
    const getTime = { type: 'function' as const, function: { name: 'get_time', description: 'Current time in a UTC offset', parameters: z.toJSONSchema(ZoneInput) } };
    const toolSchemas: Record<string, z.ZodType> = { get_weather: CityInput, get_time: ZoneInput };

    it('bindTools with tool_choice any: invoke gives valid tool_calls, and streamed chunks concatenate to the same call', async () => {
      log.length = 0;
      const bound = chat(TOOL_TOKENS).bindTools([getWeather, getTime], { tool_choice: 'any', parallel_tool_calls: false, seed: 5 });
      const message = await bound.invoke(prompt);
      expect(message.invalid_tool_calls).toEqual([]);
      expect(message.tool_calls).toHaveLength(1);
      const [call] = message.tool_calls!;
      expect(Object.keys(toolSchemas)).toContain(call!.name);
      expect(toolSchemas[call!.name]!.safeParse(call!.args).success, JSON.stringify(call)).toBe(true);
      expect(message.response_metadata.finish_reason).toBe('tool_calls');

      let joined: AIMessageChunk | undefined;
      for await (const chunk of await bound.stream(prompt)) joined = joined === undefined ? chunk : joined.concat(chunk);
      expect(joined).toBeDefined();
      expect(joined!.tool_call_chunks).toHaveLength(1);
      const [chunked] = joined!.tool_call_chunks!;
      expect(chunked!.name).toBe(call!.name);
      expect(JSON.parse(chunked!.args ?? '')).toEqual(call!.args);
      expect(chunked!.id).toMatch(/^call_/);
      expect(joined!.tool_calls?.map(({ name, args }) => ({ name, args }))).toEqual([{ name: call!.name, args: call!.args }]);

      expect(log).toHaveLength(2);
      for (const { body, status } of log) {
        expect(status).toBe(200);
        expect(body).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false, seed: 5 });
      }
    });

    it.each([
      ['jsonSchema', 300],
      // The forced call's wrapper and arguments take about 220 tokens after a 768-token prompt.
      ['functionCalling', 250],
    ] as const)('withStructuredOutput method %s returns an object valid against the schema', async (method, maxTokens) => {
      log.length = 0;
      const objects = [];
      for (const seed of [1, 2]) {
        const object = await chat(maxTokens, { seed }).withStructuredOutput(Weather, { method, name: 'weather' }).invoke(prompt);
        expect(Weather.parse(object)).toEqual(object);
        objects.push(object);
      }
      expect(log).toHaveLength(2);
      for (const [i, { body, status }] of log.entries()) {
        expect(status).toBe(200);
        expect(body.seed).toBe(i + 1);
        let schema: unknown;
        if (method === 'jsonSchema') {
          // A JSON schema response format, not a tool.
          expect(body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'weather' } });
          expect(body.tools).toBeUndefined();
          schema = (body.response_format as { json_schema: { schema: unknown } }).json_schema.schema;
        } else {
          // A call forced to the one tool that carries the schema.
          expect(body).toMatchObject({ tool_choice: { type: 'function', function: { name: 'weather' } } });
          const tools = body.tools as Array<{ function: { name: string; parameters: unknown } }>;
          expect(tools.map((t) => t.function.name)).toEqual(['weather']);
          schema = tools[0]!.function.parameters;
        }
        const validate = ajv.compile(sentSchema(schema));
        expect(validate(objects[i]), JSON.stringify(validate.errors)).toBe(true);
      }
      expect(JSON.stringify(objects[0])).not.toBe(JSON.stringify(objects[1]));
    });

    it('a multipleOf schema rejects withStructuredOutput with the server 400 naming it', async () => {
      log.length = 0;
      const structured = chat().withStructuredOutput(z.object({ n: z.number().int().multipleOf(3) }), { method: 'jsonSchema' });
      const err = await structured.invoke(prompt).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain('multipleOf');
      expect(log.map((e) => e.status)).toEqual([400]);
    });
  });
});
