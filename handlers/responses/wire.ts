// OpenAI /v1/responses (stateless) wire shapes: the request schema and its translation into a chat
// generation, and the Response object and its stream events built from the generation's events.
import * as v from 'valibot';
import { randomBytes, randomUUID } from 'node:crypto';
import { RuntimeError, type ChatMessage, type FinishReason, type GeneratedToken, type GenerateRequest, type GenerationEvent, type OutputFormat, type ToolChoice } from '../../runtime/index.ts';
import { samplingFields, samplingFromWire, wireLogprob } from '../shared/generation-params.ts';
import { FunctionName, integerBetween, JsonSchemaObject, looseWireObject, notArray, wireObject } from '../shared/schemas.ts';

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

// OpenAI's rule for function (and json_schema format) names.

/** A content part; only text parts are taken (checked in fromWire, which names the part). */
const ContentPart = looseWireObject({ type: v.string() });
const Content = v.union([v.string(), v.array(ContentPart)], 'content must be a string or a list of content parts');

// Input items are loose: items a client echoes back from an earlier output carry ids, statuses,
// annotations and the like, which say nothing the conversation needs. (Item checks they are not
// arrays before the variant picks one.)
const MessageItem = v.looseObject({
  type: v.literal('message'),
  role: v.picklist(['user', 'assistant', 'system', 'developer'], "role must be one of 'user', 'assistant', 'system', 'developer'"),
  content: Content,
});
const FunctionCallItem = v.looseObject({
  type: v.literal('function_call'),
  call_id: v.pipe(v.string(), v.minLength(1, 'call_id must not be empty')),
  name: FunctionName,
  arguments: v.string('arguments must be a JSON string'),
});
const FunctionCallOutputItem = v.looseObject({
  type: v.literal('function_call_output'),
  call_id: v.pipe(v.string(), v.minLength(1, 'call_id must not be empty')),
  output: Content,
});
const TextPieces = v.array(looseWireObject({ type: v.string(), text: v.string() }));
/** An earlier turn's reasoning, as this server's own output items carry it. */
const ReasoningItem = v.looseObject({
  type: v.literal('reasoning'),
  summary: v.optional(TextPieces),
  content: v.nullish(TextPieces),
});

const ITEM_TYPES = "input items are 'message', 'function_call', 'function_call_output' or 'reasoning'";
/** A message may leave out its `type`; every other item names one. */
const Item = v.pipe(
  notArray,
  v.transform((item) => (item.type === undefined ? { ...item, type: 'message' } : item)),
  v.variant('type', [MessageItem, FunctionCallItem, FunctionCallOutputItem, ReasoningItem], ITEM_TYPES),
);
type InputItem = v.InferOutput<typeof Item>;

/** A string is one user message. */
const Input = v.pipe(
  v.union([v.string(), v.array(v.unknown())], 'input must be a string or a list of input items'),
  v.transform((input): unknown[] => (typeof input === 'string' ? [{ type: 'message', role: 'user', content: input }] : input)),
  v.array(Item),
  v.minLength(1, 'input must not be empty'),
);

/** The Responses API's flat function tool (chat nests it under `function`). */
const FunctionTool = wireObject({
  type: v.literal('function', "tools[].type must be 'function' (this server runs no built-in tools)"),
  name: FunctionName,
  description: v.nullish(v.string()),
  parameters: v.nullish(JsonSchemaObject),
  strict: v.nullish(v.boolean()),
});
const ToolChoiceSchema = v.union(
  [v.picklist(['none', 'auto', 'required']), wireObject({ type: v.literal('function'), name: FunctionName })],
  "tool_choice must be 'none', 'auto', 'required' or {type: 'function', name}",
);
const TextFormat = v.variant(
  'type',
  [
    v.strictObject({ type: v.literal('text') }),
    v.strictObject({ type: v.literal('json_object') }),
    v.strictObject({
      type: v.literal('json_schema'),
      name: v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_-]{1,64}$/, 'text.format.name is 1-64 letters, digits, underscores or dashes')),
      schema: JsonSchemaObject,
      description: v.optional(v.string()),
      strict: v.nullish(v.boolean()),
    }),
  ],
  "text.format.type must be 'text', 'json_object' or 'json_schema'",
);

/** OpenAI's metadata: at most 16 string values, keys up to 64 characters, values up to 512. */
const Metadata = v.custom<Record<string, string>>(
  (x) => isRecord(x) && Object.keys(x).length <= 16 && Object.entries(x).every(([k, value]) => k.length <= 64 && typeof value === 'string' && value.length <= 512),
  'metadata is at most 16 string values, keys up to 64 characters, values up to 512',
);

const EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'] as const;
const SUMMARIES = ['auto', 'concise', 'detailed'] as const;
const Reasoning = wireObject({
  effort: v.nullish(v.picklist(EFFORTS)),
  summary: v.nullish(v.picklist(SUMMARIES)),
  generate_summary: v.nullish(v.picklist(SUMMARIES)),
});

const LOGPROBS_INCLUDE = 'message.output_text.logprobs';
/**
 * What `include` may ask for. Besides logprobs, each names data of items this server never makes
 * (hosted tools, images, encrypted reasoning), so asking for it changes nothing.
 */
const INCLUDE = [
  'file_search_call.results',
  'web_search_call.results',
  'web_search_call.action.sources',
  'message.input_image.image_url',
  'computer_call_output.output.image_url',
  'code_interpreter_call.outputs',
  'reasoning.encrypted_content',
  LOGPROBS_INCLUDE,
] as const;

export const ResponsesRequestSchema = wireObject({
  model: v.string(),
  input: Input,
  instructions: v.nullish(v.string()),
  tools: v.nullish(v.pipe(v.array(FunctionTool), v.maxLength(128, 'at most 128 tools'))),
  tool_choice: v.nullish(ToolChoiceSchema),
  parallel_tool_calls: v.nullish(v.boolean()),
  text: v.nullish(wireObject({ format: v.nullish(TextFormat) })),
  max_output_tokens: v.nullish(integerBetween(1)),
  temperature: samplingFields.temperature,
  top_p: samplingFields.top_p,
  top_logprobs: v.nullish(integerBetween(0, 20)),
  // Not in OpenAI's Responses API: the extension every other generation route here takes.
  seed: samplingFields.seed,
  stream: v.nullish(v.boolean()),
  // Obfuscation pads deltas against a side channel of hosted APIs; a local server sends none.
  stream_options: v.nullish(wireObject({ include_obfuscation: v.optional(v.boolean()) })),
  metadata: v.nullish(Metadata),
  user: samplingFields.user,
  store: v.nullish(v.boolean()),
  previous_response_id: v.nullish(v.string()),
  reasoning: v.nullish(Reasoning),
  truncation: v.nullish(v.picklist(['auto', 'disabled'], "truncation must be 'auto' or 'disabled'")),
  include: v.nullish(v.array(v.picklist(INCLUDE, `include values are ${INCLUDE.map((i) => `'${i}'`).join(', ')}`))),
});

export type ResponsesRequest = v.InferOutput<typeof ResponsesRequestSchema>;

/** Runtime field -> the Responses wire field, for error params. */
export const RESPONSES_WIRE_PARAMS = {
  prompt: 'input',
  messages: 'input',
  maxTokens: 'max_output_tokens',
  outputFormat: 'text.format',
  tools: 'tools',
  toolChoice: 'tool_choice',
  parallelToolCalls: 'parallel_tool_calls',
  logprobs: 'top_logprobs',
} as const;

const unsupported = (message: string, param: string) => new RuntimeError('unsupported', message, { param });

/** What asks for server-side state or behaviour this server does not have: each a 400 naming it. */
function rejectUnsupported(body: ResponsesRequest): void {
  if (body.store === true) throw unsupported("Responses are not stored by this server; send 'store': false (or leave it out) and pass earlier turns in 'input'.", 'store');
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    throw new RuntimeError('invalid_request', "Responses are not stored by this server, so 'previous_response_id' refers to nothing; pass earlier turns in 'input'.", { param: 'previous_response_id' });
  }
  if (body.truncation === 'auto') throw unsupported("'truncation': 'auto' is not supported; an input longer than the context is a 400.", 'truncation');
  for (const key of ['effort', 'summary', 'generate_summary'] as const) {
    if (body.reasoning?.[key] !== undefined && body.reasoning[key] !== null) throw unsupported(`'reasoning.${key}' is not supported by this server.`, `reasoning.${key}`);
  }
}

type Parts = v.InferOutput<typeof Content>;

function textOf(content: Parts, where: string): string {
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if ((part.type !== 'input_text' && part.type !== 'output_text') || typeof part.text !== 'string') {
        throw new RuntimeError('invalid_request', `Content part type '${part.type}' is not supported; this model takes text only.`, { param: `${where}[${j}]` });
      }
      return part.text;
    })
    .join('');
}

function reasoningOf(item: Extract<InputItem, { type: 'reasoning' }>): string {
  const pieces = item.content && item.content.length > 0 ? item.content : (item.summary ?? []);
  return pieces.map((p) => p.text).join('');
}

/**
 * Input items -> chat messages. Function calls join the assistant turn just before them (its text,
 * or the calls before them); a reasoning item goes to the assistant turn that follows it.
 */
function messagesFromItems(items: InputItem[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  let reasoning: string | undefined;
  const withReasoning = (m: ChatMessage): ChatMessage => {
    const out = reasoning === undefined ? m : { ...m, reasoning };
    reasoning = undefined;
    return out;
  };
  items.forEach((item, i) => {
    if (item.type === 'reasoning') reasoning = (reasoning ?? '') + reasoningOf(item);
    else if (item.type === 'message') {
      const role = item.role === 'developer' ? 'system' : item.role;
      const message = { role, content: textOf(item.content, `input[${i}].content`) };
      messages.push(role === 'assistant' ? withReasoning(message) : message);
    } else if (item.type === 'function_call') {
      const call = { id: item.call_id, name: item.name, arguments: item.arguments };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && reasoning === undefined) last.toolCalls = [...(last.toolCalls ?? []), call];
      else messages.push(withReasoning({ role: 'assistant', content: '', toolCalls: [call] }));
    } else {
      messages.push({ role: 'tool', content: textOf(item.output, `input[${i}].output`), toolCallId: item.call_id });
    }
  });
  return messages;
}

function formatFromWire(format: NonNullable<ResponsesRequest['text']>['format']): OutputFormat | undefined {
  if (!format) return undefined;
  if (format.type === 'json_object') return { type: 'json' };
  if (format.type === 'json_schema') return { type: 'json_schema', schema: format.schema };
  return { type: 'text' };
}

/** How many alternatives per token to report, when logprobs were asked for. */
export function logprobsOf(body: ResponsesRequest): number | undefined {
  const asked = body.include?.includes(LOGPROBS_INCLUDE) === true || (body.top_logprobs !== undefined && body.top_logprobs !== null);
  return asked ? (body.top_logprobs ?? 0) : undefined;
}

export function fromWire(body: ResponsesRequest, signal: AbortSignal): GenerateRequest {
  rejectUnsupported(body);
  const instructions: ChatMessage[] = body.instructions ? [{ role: 'system', content: body.instructions }] : [];
  const tools = body.tools?.map((t) => ({
    name: t.name,
    ...(t.description === undefined || t.description === null ? {} : { description: t.description }),
    parameters: t.parameters ?? { type: 'object', properties: {} },
  }));
  const toolChoice: ToolChoice | undefined = body.tool_choice === undefined || body.tool_choice === null ? undefined : typeof body.tool_choice === 'string' ? body.tool_choice : { name: body.tool_choice.name };
  const outputFormat = formatFromWire(body.text?.format);
  const logprobs = logprobsOf(body);
  return {
    ...samplingFromWire({ temperature: body.temperature, top_p: body.top_p, seed: body.seed }),
    model: body.model,
    prompts: [{ messages: [...instructions, ...messagesFromItems(body.input)] }],
    maxTokens: body.max_output_tokens ?? undefined,
    ...(logprobs === undefined ? {} : { logprobs }),
    ...(tools ? { tools } : {}),
    ...(toolChoice ? { toolChoice } : {}),
    ...(body.parallel_tool_calls === undefined || body.parallel_tool_calls === null ? {} : { parallelToolCalls: body.parallel_tool_calls }),
    ...(outputFormat ? { outputFormat } : {}),
    signal,
  };
}

/** OpenAI-style ids: a prefix and 48 hex digits; call ids are `call_` and 24. */
const hexId = (prefix: string) => `${prefix}_${randomBytes(24).toString('hex')}`;
const callId = () => `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;

/** What every Response object of one request repeats: its id, time, model and the request's settings. */
export interface ResponseShell {
  id: string;
  created_at: number;
  model: string;
  echo: ReturnType<typeof echoOf>;
}

/** The request's settings as a Response states them (spec-required fields included). */
function echoOf(body: ResponsesRequest) {
  const format = body.text?.format ?? { type: 'text' as const };
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: body.temperature ?? null,
    text: { format },
    tool_choice: body.tool_choice ?? 'auto',
    tools: (body.tools ?? []).map((t) => ({ type: 'function' as const, name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null })),
    top_logprobs: body.top_logprobs ?? null,
    top_p: body.top_p ?? null,
    truncation: 'disabled' as const,
    ...(body.user === undefined || body.user === null ? {} : { user: body.user }),
    metadata: body.metadata ?? {},
  };
}

export function responseShell(body: ResponsesRequest): ResponseShell {
  return { id: hexId('resp'), created_at: Math.floor(Date.now() / 1000), model: body.model, echo: echoOf(body) };
}

type ItemStatus = 'in_progress' | 'completed' | 'incomplete';
type OutputTextLogprob = { token: string; logprob: number; bytes: number[]; top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }> };
type OutputText = { type: 'output_text'; text: string; annotations: never[]; logprobs: OutputTextLogprob[] };
type ReasoningText = { type: 'reasoning_text'; text: string };
export type OutputItem =
  | { type: 'reasoning'; id: string; summary: never[]; content: ReasoningText[]; status: ItemStatus }
  | { type: 'message'; id: string; status: ItemStatus; role: 'assistant'; content: OutputText[] }
  | { type: 'function_call'; id: string; call_id: string; name: string; arguments: string; status: ItemStatus };

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

export function usageToWire({ promptTokens, completionTokens, cachedTokens }: Usage) {
  return {
    input_tokens: promptTokens,
    input_tokens_details: { cached_tokens: cachedTokens, cache_write_tokens: 0 },
    output_tokens: completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: promptTokens + completionTokens,
  };
}

/** The Response object; `usage` is left out while in progress (the spec's usage is never null). */
export function toWire(shell: ResponseShell, status: ResponseStatus, output: OutputItem[], usage?: Usage, error?: { code: string; message: string }) {
  return {
    id: shell.id,
    object: 'response' as const,
    created_at: shell.created_at,
    status,
    background: false,
    completed_at: status === 'completed' ? Math.floor(Date.now() / 1000) : null,
    error: error ?? null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' as const } : null,
    model: shell.model,
    output,
    ...shell.echo,
    ...(usage ? { usage: usageToWire(usage) } : {}),
  };
}

const outputLogprobs = (tokens: GeneratedToken[]): OutputTextLogprob[] =>
  tokens.map((t) => ({ token: t.token, logprob: wireLogprob(t.logprob), bytes: t.bytes, top_logprobs: t.top.map((a) => ({ token: a.token, logprob: wireLogprob(a.logprob), bytes: a.bytes })) }));
/** A delta event's logprobs (ResponseLogProb: no bytes). */
const deltaLogprobs = (tokens: OutputTextLogprob[]) => tokens.map((t) => ({ token: t.token, logprob: t.logprob, top_logprobs: t.top_logprobs.map((a) => ({ token: a.token, logprob: a.logprob })) }));

/** One stream event's data: its type first, its sequence number last. */
export type StreamEvent = { type: string; sequence_number: number } & Record<string, unknown>;

type Open =
  | { item: Extract<OutputItem, { type: 'reasoning' }>; index: number; part: ReasoningText }
  | { item: Extract<OutputItem, { type: 'message' }>; index: number; part: OutputText };

/**
 * Turns one choice's generation events into output items and the stream events OpenAI sends for
 * them, in its order. Reasoning, text and each tool call become items as they arrive (an item
 * closes when another begins), so a streamed answer and a unary one are built the same way.
 */
export function createResponseEvents(shell: ResponseShell, withLogprobs: boolean) {
  let sequence = 0;
  const output: OutputItem[] = [];
  let open: Open | undefined;
  /** Tokens of deltas that said nothing yet (text held back): they belong to the next text. */
  let pendingTokens: OutputTextLogprob[] = [];
  const event = (type: string, fields: Record<string, unknown>): StreamEvent => ({ type, ...fields, sequence_number: sequence++ });
  const added = (index: number, item: OutputItem) => event('response.output_item.added', { output_index: index, item: structuredClone(item) });

  function close(status: ItemStatus): StreamEvent[] {
    if (!open) return [];
    const { item, index, part } = open;
    open = undefined;
    item.status = status;
    const where = { item_id: item.id, output_index: index, content_index: 0 };
    const textDone =
      part.type === 'reasoning_text'
        ? event('response.reasoning_text.done', { ...where, text: part.text })
        : event('response.output_text.done', { ...where, text: part.text, logprobs: deltaLogprobs(part.logprobs) });
    return [textDone, event('response.content_part.done', { ...where, part: structuredClone(part) }), event('response.output_item.done', { output_index: index, item: structuredClone(item) })];
  }

  function begin(kind: 'reasoning' | 'message'): StreamEvent[] {
    const index = output.length;
    const events = close('completed');
    if (kind === 'reasoning') {
      const item: OutputItem = { type: 'reasoning', id: hexId('rs'), summary: [], content: [], status: 'in_progress' };
      const part: ReasoningText = { type: 'reasoning_text', text: '' };
      open = { item, index, part };
      output.push(item);
      events.push(added(index, item));
      item.content.push(part);
    } else {
      const item: OutputItem = { type: 'message', id: hexId('msg'), status: 'in_progress', role: 'assistant', content: [] };
      const part: OutputText = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      open = { item, index, part };
      output.push(item);
      events.push(added(index, item));
      item.content.push(part);
    }
    const { item, part } = open;
    events.push(event('response.content_part.added', { item_id: item.id, output_index: index, content_index: 0, part: structuredClone(part) }));
    return events;
  }

  function delta(e: Extract<GenerationEvent, { type: 'delta' }>): StreamEvent[] {
    const events: StreamEvent[] = [];
    const tokens = withLogprobs && e.tokens ? outputLogprobs(e.tokens) : [];
    if (e.reasoning) {
      if (open?.part.type !== 'reasoning_text') events.push(...begin('reasoning'));
      const o = open as Open;
      o.part.text += e.reasoning;
      events.push(event('response.reasoning_text.delta', { item_id: o.item.id, output_index: o.index, content_index: 0, delta: e.reasoning }));
    }
    if (e.text !== '') {
      if (open?.part.type !== 'output_text') events.push(...begin('message'));
      const o = open as Extract<Open, { part: OutputText }>;
      const logprobs = [...pendingTokens, ...tokens];
      pendingTokens = [];
      o.part.text += e.text;
      o.part.logprobs.push(...logprobs);
      events.push(event('response.output_text.delta', { item_id: o.item.id, output_index: o.index, content_index: 0, delta: e.text, logprobs: deltaLogprobs(logprobs) }));
    } else if (!e.reasoning && !e.toolCalls) pendingTokens.push(...tokens);
    else pendingTokens = [];
    for (const call of e.toolCalls ?? []) {
      events.push(...close('completed'));
      const index = output.length;
      const item: OutputItem = { type: 'function_call', id: hexId('fc'), call_id: callId(), name: call.name, arguments: '', status: 'in_progress' };
      output.push(item);
      events.push(added(index, item));
      events.push(event('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta: call.arguments }));
      item.arguments = call.arguments;
      events.push(event('response.function_call_arguments.done', { item_id: item.id, output_index: index, name: call.name, arguments: call.arguments }));
      item.status = 'completed';
      events.push(event('response.output_item.done', { output_index: index, item: structuredClone(item) }));
    }
    return events;
  }

  let finish: FinishReason = 'length';
  return {
    output,
    /** `response.created` and `response.in_progress`. */
    start: (): StreamEvent[] => [event('response.created', { response: toWire(shell, 'in_progress', []) }), event('response.in_progress', { response: toWire(shell, 'in_progress', []) })],
    push(e: GenerationEvent): StreamEvent[] {
      if (e.type === 'delta') return delta(e);
      finish = e.reason;
      return [];
    },
    /**
     * Closes the open item; the whole answer, and its last events: `response.completed`, or
     * `response.incomplete` when the token limit cut it.
     */
    end(usage: Usage) {
      const status = finish === 'length' ? 'incomplete' : 'completed';
      const events = close(status);
      const response = toWire(shell, status, output, usage);
      events.push(event(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response }));
      return { events, response };
    },
    /** After the headers an error is an `error` event, then `response.failed`. */
    fail(error: { code: string | null; type: string; message: string; param: string | null }, usage: Usage): StreamEvent[] {
      const events = close('incomplete');
      events.push(event('error', { code: error.code ?? error.type, message: error.message, param: error.param }));
      events.push(event('response.failed', { response: toWire(shell, 'failed', output, usage, { code: error.type === 'rate_limit_error' ? 'rate_limit_exceeded' : 'server_error', message: error.message }) }));
      return events;
    },
  };
}
