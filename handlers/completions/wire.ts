// OpenAI legacy /v1/completions wire shapes and pure translation to and from the runtime.
import * as v from 'valibot';
import { RuntimeError, type FinishReason, type GeneratedToken, type GeneratePrompt, type GenerateRequest } from '../../runtime/index.ts';
import type { ChoiceResult } from '../shared/collect.ts';
import { envelope, type ResponseHeader } from '../shared/generation-route.ts';
import { wireObject, integerBetween } from '../shared/schemas.ts';
import { rejectUnsupported, samplingFields, samplingFromWire, TOOL_FIELDS, toolFields, unsupportedFields, usageToWire, wireLogprob } from '../shared/generation-params.ts';

const tokenIds = v.pipe(v.array(integerBetween(0, 2 ** 31 - 1)), v.minLength(1, 'token prompts must not be empty'));

export const CompletionRequestSchema = wireObject({
  ...samplingFields,
  ...unsupportedFields,
  ...toolFields,
  prompt: v.union(
    [v.string(), v.pipe(v.array(v.string()), v.minLength(1)), tokenIds, v.pipe(v.array(tokenIds), v.minLength(1))],
    'prompt must be a string, an array of strings, an array of token ids, or an array of token id arrays',
  ),
  // The OpenAI default for this endpoint is 16.
  max_tokens: v.nullish(integerBetween(1), 16),
  logprobs: v.nullish(integerBetween(0, 5)),
  echo: v.nullish(v.boolean()),
});

export type CompletionRequest = v.InferOutput<typeof CompletionRequestSchema>;

function promptsOf(prompt: CompletionRequest['prompt']): GeneratePrompt[] {
  if (typeof prompt === 'string') return [{ text: prompt }];
  if (typeof prompt[0] === 'number') return [{ tokens: prompt as number[] }];
  return (prompt as Array<string | number[]>).map((p) => (typeof p === 'string' ? { text: p } : { tokens: p }));
}

export function fromWire(body: CompletionRequest, signal: AbortSignal): GenerateRequest {
  rejectUnsupported(body, TOOL_FIELDS);
  return {
    ...samplingFromWire(body),
    model: body.model,
    prompts: promptsOf(body.prompt),
    maxTokens: body.max_tokens,
    logprobs: body.logprobs ?? undefined,
    echo: body.echo ?? false,
    signal,
  };
}

/** The legacy logprobs object; `offset` is where the first token starts in the choice's text. */
export function logprobsToWire(tokens: GeneratedToken[], offset: number) {
  const textOffset: number[] = [];
  let at = offset;
  for (const t of tokens) {
    textOffset.push(at);
    at += t.token.length;
  }
  return {
    tokens: tokens.map((t) => t.token),
    // The first echoed prompt token has no log-probability (nothing precedes it): null, as OpenAI sends.
    token_logprobs: tokens.map((t) => (Number.isNaN(t.logprob) ? null : wireLogprob(t.logprob))),
    top_logprobs: tokens.map((t) => (Number.isNaN(t.logprob) ? null : Object.fromEntries(t.top.map((a) => [a.token, wireLogprob(a.logprob)])))),
    text_offset: textOffset,
  };
}

export function toWire(header: ResponseHeader, choices: ChoiceResult[], withLogprobs: boolean, usage: ReturnType<typeof usageToWire>) {
  return {
    ...envelope(header, 'text_completion'),
    choices: choices.map((c, index) => ({
      text: c.text,
      index,
      logprobs: withLogprobs ? logprobsToWire(c.tokens, 0) : null,
      finish_reason: c.finishReason,
    })),
    usage,
  };
}

/**
 * Streamed chunks share the unary object's shape (spec: CreateCompletionResponse). With
 * include_usage, every chunk carries `usage: null` and the final `choices: []` chunk the usage,
 * as on chat (what vLLM and OpenAI send).
 */
export function toChunk(
  header: ResponseHeader,
  includeUsage: boolean,
  choice: { index: number; text: string; logprobs: ReturnType<typeof logprobsToWire> | null; finishReason?: FinishReason } | null,
  usage?: ReturnType<typeof usageToWire>,
) {
  return {
    ...envelope(header, 'text_completion'),
    choices: choice ? [{ text: choice.text, index: choice.index, logprobs: choice.logprobs, finish_reason: choice.finishReason ?? null }] : [],
    ...(includeUsage ? { usage: usage ?? null } : {}),
  };
}
