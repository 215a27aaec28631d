// OpenAI /v1/chat/completions wire shapes and pure translation to and from the runtime.
import * as v from 'valibot';
import { randomUUID } from 'node:crypto';
import { RuntimeError, type ChatMessage, type FinishReason, type GeneratedToken, type GenerateRequest, type OutputFormat, type ToolCall, type ToolChoice } from '../../runtime/index.ts';
import type { ChoiceResult } from '../shared/collect.ts';
import { envelope, type ResponseHeader } from '../shared/generation-route.ts';
import { FunctionName, integerBetween, JsonSchemaObject, looseWireObject, wireObject } from '../shared/schemas.ts';
import { rejectUnsupported, SHARED_WIRE_PARAMS, samplingFields, samplingFromWire, unsupportedFields, usageToWire, wireLogprob } from '../shared/generation-params.ts';

const ContentPart = looseWireObject({ type: v.string() });
const MessageToolCall = looseWireObject({
  id: v.string(),
  type: v.literal('function', "tool_calls[].type must be 'function'"),
  function: looseWireObject({ name: v.string(), arguments: v.string('function.arguments must be a JSON string') }),
});
const Message = looseWireObject({
  role: v.picklist(['system', 'developer', 'user', 'assistant', 'tool'], "role must be one of 'system', 'developer', 'user', 'assistant', 'tool'"),
  content: v.nullish(v.union([v.string(), v.array(ContentPart)], 'content must be a string or an array of content parts')),
  name: v.optional(v.string()),
  tool_calls: v.nullish(v.array(MessageToolCall)),
  tool_call_id: v.optional(v.string()),
  // The reasoning of an earlier assistant turn, under the names llama.cpp, OVMS and vLLM read.
  reasoning_content: v.nullish(v.string()),
  reasoning: v.nullish(v.string()),
});

const Tool = wireObject({
  type: v.literal('function', "tools[].type must be 'function'"),
  function: wireObject({
    name: FunctionName,
    description: v.optional(v.string()),
    parameters: v.optional(JsonSchemaObject),
    strict: v.nullish(v.boolean()),
  }),
});
const ToolChoiceSchema = v.union(
  [v.picklist(['none', 'auto', 'required']), wireObject({ type: v.literal('function'), function: wireObject({ name: FunctionName }) })],
  "tool_choice must be 'none', 'auto', 'required' or {type: 'function', function: {name}}",
);
const ResponseFormat = v.variant(
  'type',
  [
    v.strictObject({ type: v.literal('text') }),
    v.strictObject({ type: v.literal('json_object') }),
    v.strictObject({
      type: v.literal('json_schema'),
      json_schema: wireObject({ name: v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_-]{1,64}$/, 'json_schema.name is 1-64 letters, digits, underscores or dashes')), description: v.optional(v.string()), schema: v.optional(JsonSchemaObject), strict: v.nullish(v.boolean()) }),
    }),
  ],
  "response_format.type must be 'text', 'json_object' or 'json_schema'",
);

export const ChatRequestSchema = wireObject({
  ...samplingFields,
  ...unsupportedFields,
  messages: v.pipe(v.array(Message), v.minLength(1, 'messages must not be empty')),
  max_tokens: v.nullish(integerBetween(1)),
  max_completion_tokens: v.nullish(integerBetween(1)),
  logprobs: v.nullish(v.boolean()),
  top_logprobs: v.nullish(integerBetween(0, 20)),
  response_format: v.nullish(ResponseFormat),
  tools: v.nullish(v.pipe(v.array(Tool), v.maxLength(128, 'at most 128 tools'))),
  tool_choice: v.nullish(ToolChoiceSchema),
  parallel_tool_calls: v.nullish(v.boolean()),
});

export type ChatRequest = v.InferOutput<typeof ChatRequestSchema>;

function messageText(message: v.InferOutput<typeof Message>, i: number): string {
  // Only an assistant turn that made tool calls may have no content.
  if (message.content === undefined || message.content === null) {
    if (message.role === 'assistant' && message.tool_calls && message.tool_calls.length > 0) return '';
    throw new RuntimeError('invalid_request', `Missing required parameter: 'messages[${i}].content'.`, { param: `messages[${i}].content` });
  }
  if (typeof message.content === 'string') return message.content;
  return message.content
    .map((part, j) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new RuntimeError('invalid_request', `Content part type '${part.type}' is not supported; this model takes text only.`, { param: `messages[${i}].content[${j}]` });
      }
      return part.text;
    })
    .join('');
}

function messageFromWire(m: v.InferOutput<typeof Message>, i: number): ChatMessage {
  if (m.role === 'tool' && m.tool_call_id === undefined) {
    throw new RuntimeError('invalid_request', `Missing required parameter: 'messages[${i}].tool_call_id'.`, { param: `messages[${i}].tool_call_id` });
  }
  if (m.tool_calls && m.tool_calls.length > 0 && m.role !== 'assistant') {
    throw new RuntimeError('invalid_request', `Only assistant messages carry tool_calls (messages[${i}] is '${m.role}').`, { param: `messages[${i}].tool_calls` });
  }
  const reasoning = m.reasoning_content ?? m.reasoning ?? undefined;
  return {
    // OpenAI's `developer` role is the system prompt for models without one of their own.
    role: m.role === 'developer' ? 'system' : m.role,
    content: messageText(m, i),
    ...(m.name === undefined ? {} : { name: m.name }),
    ...(m.tool_calls && m.tool_calls.length > 0 ? { toolCalls: m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) } : {}),
    ...(m.tool_call_id === undefined ? {} : { toolCallId: m.tool_call_id }),
    ...(reasoning === undefined ? {} : { reasoning }),
  };
}

function toolChoiceFromWire(choice: ChatRequest['tool_choice']): ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  return typeof choice === 'string' ? choice : { name: choice.function.name };
}

function formatFromWire(format: ChatRequest['response_format']): OutputFormat | undefined {
  if (!format) return undefined;
  if (format.type === 'json_object') return { type: 'json' };
  if (format.type === 'json_schema') return { type: 'json_schema', schema: format.json_schema.schema ?? {} };
  return { type: 'text' };
}

export function fromWire(body: ChatRequest, signal: AbortSignal): GenerateRequest {
  rejectUnsupported(body);
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && !body.logprobs) {
    throw new RuntimeError('invalid_request', 'top_logprobs requires logprobs to be true.', { param: 'top_logprobs' });
  }
  const messages = body.messages.map(messageFromWire);
  const tools = body.tools?.map((t) => ({
    name: t.function.name,
    ...(t.function.description === undefined ? {} : { description: t.function.description }),
    parameters: t.function.parameters ?? { type: 'object', properties: {} },
  }));
  const toolChoice = toolChoiceFromWire(body.tool_choice);
  const outputFormat = formatFromWire(body.response_format);
  return {
    ...samplingFromWire(body),
    model: body.model,
    prompts: [{ messages }],
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    logprobs: body.logprobs ? (body.top_logprobs ?? 0) : undefined,
    ...(tools ? { tools } : {}),
    ...(toolChoice ? { toolChoice } : {}),
    ...(body.parallel_tool_calls === undefined || body.parallel_tool_calls === null ? {} : { parallelToolCalls: body.parallel_tool_calls }),
    ...(outputFormat ? { outputFormat } : {}),
    signal,
  };
}

/** Runtime field -> the chat wire field, for error params. */
export const CHAT_WIRE_PARAMS = { ...SHARED_WIRE_PARAMS, prompt: 'messages', tools: 'tools', toolChoice: 'tool_choice', outputFormat: 'response_format' } as const;

/** OpenAI's tool-call ids: `call_` and 24 random characters. */
export const toolCallId = () => `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;

const toolCallToWire = (call: ToolCall, id: string) => ({ id, type: 'function' as const, function: { name: call.name, arguments: call.arguments } });

export const logprobContent = (tokens: GeneratedToken[]) =>
  tokens.map((t) => ({
    token: t.token,
    logprob: wireLogprob(t.logprob),
    bytes: t.bytes,
    top_logprobs: t.top.map((a) => ({ token: a.token, logprob: wireLogprob(a.logprob), bytes: a.bytes })),
  }));

export function toWire(header: ResponseHeader, choices: ChoiceResult[], withLogprobs: boolean, usage: ReturnType<typeof usageToWire>) {
  return {
    ...envelope(header, 'chat.completion'),
    choices: choices.map((c, index) => ({
      index,
      message: {
        role: 'assistant' as const,
        // With tool calls and nothing else said, content is null (as OpenAI answers).
        content: c.toolCalls.length > 0 && c.text === '' ? null : c.text,
        refusal: null,
        ...(c.toolCalls.length > 0 ? { tool_calls: c.toolCalls.map((call) => toolCallToWire(call, toolCallId())) } : {}),
        ...(c.reasoning !== '' ? { reasoning_content: c.reasoning } : {}),
      },
      logprobs: withLogprobs ? { content: logprobContent(c.tokens), refusal: null } : null,
      finish_reason: c.finishReason,
    })),
    usage,
  };
}

/** A streamed tool call: the first chunk of a call has its id, type and name; later ones add arguments. */
type ToolCallDelta = { index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } };
type Delta = { role?: 'assistant'; content?: string; reasoning_content?: string; tool_calls?: ToolCallDelta[] };

/** The two chunks' deltas OpenAI streams a call as: id and name first, then its arguments. */
export function toolCallDeltas(callIndex: number, call: ToolCall, id: string): Delta[] {
  return [
    { tool_calls: [{ index: callIndex, id, type: 'function', function: { name: call.name, arguments: '' } }] },
    { tool_calls: [{ index: callIndex, function: { arguments: call.arguments } }] },
  ];
}

/** One chat.completion.chunk; `usage` is present (null) on every chunk when include_usage is on. */
export function toChunk(
  header: ResponseHeader,
  includeUsage: boolean,
  choice: { index: number; delta: Delta; tokens?: GeneratedToken[]; finishReason?: FinishReason } | null,
  usage?: ReturnType<typeof usageToWire>,
) {
  return {
    ...envelope(header, 'chat.completion.chunk'),
    choices: choice
      ? [
          {
            index: choice.index,
            delta: choice.delta,
            logprobs: choice.tokens ? { content: logprobContent(choice.tokens), refusal: null } : null,
            finish_reason: choice.finishReason ?? null,
          },
        ]
      : [],
    ...(includeUsage ? { usage: usage ?? null } : {}),
  };
}
