// OpenAI /v1/chat/completions wire shapes and pure translation to and from the runtime.
import * as v from 'valibot';
import { RuntimeError, type ChatMessage, type GeneratedToken, type GenerateRequest } from '../../runtime/index.ts';
import type { ChoiceResult } from '../shared/collect.ts';
import { envelope, type ResponseHeader } from '../shared/generation-route.ts';
import { wireObject, looseWireObject, integerBetween } from '../shared/schemas.ts';
import { rejectUnsupported, samplingFields, samplingFromWire, unsupportedFields, usageToWire, wireLogprob } from '../shared/generation-params.ts';

const ContentPart = looseWireObject({ type: v.string() });
const Message = looseWireObject({
  role: v.picklist(['system', 'developer', 'user', 'assistant', 'tool'], "role must be one of 'system', 'developer', 'user', 'assistant', 'tool'"),
  content: v.nullish(v.union([v.string(), v.array(ContentPart)], 'content must be a string or an array of content parts')),
  name: v.optional(v.string()),
});

export const ChatRequestSchema = wireObject({
  ...samplingFields,
  ...unsupportedFields,
  messages: v.pipe(v.array(Message), v.minLength(1, 'messages must not be empty')),
  max_tokens: v.nullish(integerBetween(1)),
  max_completion_tokens: v.nullish(integerBetween(1)),
  logprobs: v.nullish(v.boolean()),
  top_logprobs: v.nullish(integerBetween(0, 20)),
  response_format: v.nullish(looseWireObject({ type: v.string() })),
});

export type ChatRequest = v.InferOutput<typeof ChatRequestSchema>;

function messageText(message: v.InferOutput<typeof Message>, i: number): string {
  // Only an assistant turn that made tool calls may have no content, and tool calls are refused before this.
  if (message.content === undefined || message.content === null) {
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

export function fromWire(body: ChatRequest, signal: AbortSignal): GenerateRequest {
  rejectUnsupported(body);
  if (body.response_format && body.response_format.type !== 'text') {
    throw new RuntimeError('unsupported', `response_format '${body.response_format.type}' is not supported by this server.`, { param: 'response_format' });
  }
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && !body.logprobs) {
    throw new RuntimeError('invalid_request', 'top_logprobs requires logprobs to be true.', { param: 'top_logprobs' });
  }
  const messages: ChatMessage[] = body.messages.map((m, i) => {
    if (m.role === 'tool' || m.tool_calls !== undefined) {
      throw new RuntimeError('unsupported', 'Tool calling is not supported by this server.', { param: `messages[${i}]` });
    }
    // OpenAI's `developer` role is the system prompt for models without one of their own.
    return { role: m.role === 'developer' ? 'system' : m.role, content: messageText(m, i), ...(m.name === undefined ? {} : { name: m.name }) };
  });
  return {
    ...samplingFromWire(body),
    model: body.model,
    prompts: [{ messages }],
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    logprobs: body.logprobs ? (body.top_logprobs ?? 0) : undefined,
    signal,
  };
}

export const logprobContent = (tokens: GeneratedToken[]) =>
  tokens.map((t) => ({
    token: t.token,
    logprob: wireLogprob(t.logprob),
    bytes: t.bytes,
    top_logprobs: t.top.map((a) => ({ token: a.token, logprob: wireLogprob(a.logprob), bytes: a.bytes })),
  }));

export function toWire(header: ResponseHeader, choices: ChoiceResult[], withLogprobs: boolean, promptTokens: number, completionTokens: number) {
  return {
    ...envelope(header, 'chat.completion'),
    choices: choices.map((c, index) => ({
      index,
      message: { role: 'assistant' as const, content: c.text, refusal: null },
      logprobs: withLogprobs ? { content: logprobContent(c.tokens), refusal: null } : null,
      finish_reason: c.finishReason,
    })),
    usage: usageToWire(promptTokens, completionTokens),
  };
}

type Delta = { role?: 'assistant'; content?: string };

/** One chat.completion.chunk; `usage` is present (null) on every chunk when include_usage is on. */
export function toChunk(
  header: ResponseHeader,
  includeUsage: boolean,
  choice: { index: number; delta: Delta; tokens?: GeneratedToken[]; finishReason?: 'stop' | 'length' } | null,
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
