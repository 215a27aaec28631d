// vLLM's /tokenize and /detokenize wire shapes and their pure translation to and from the runtime.
import * as v from 'valibot';
import type { DetokenizeRequest, TokenizeRequest, TokenizeResult } from '../../runtime/index.ts';
import { integerBetween, looseWireObject, wireObject } from '../shared/schemas.ts';

const Message = looseWireObject({ role: v.string(), content: v.string() });

export const TokenizeRequestSchema = v.union(
  [
    wireObject({ model: v.string(), prompt: v.string(), add_special_tokens: v.optional(v.boolean()) }),
    wireObject({
      model: v.string(),
      messages: v.pipe(v.array(Message), v.minLength(1, 'messages must not be empty')),
      add_generation_prompt: v.optional(v.boolean()),
      add_special_tokens: v.optional(v.boolean()),
    }),
  ],
  'give a prompt or messages',
);
export type TokenizeWireRequest = v.InferOutput<typeof TokenizeRequestSchema>;

export const DetokenizeRequestSchema = wireObject({ model: v.string(), tokens: v.pipe(v.array(integerBetween(0, 2 ** 31 - 1)), v.maxLength(1_000_000)) });
export type DetokenizeWireRequest = v.InferOutput<typeof DetokenizeRequestSchema>;

export function tokenizeFromWire(body: TokenizeWireRequest): TokenizeRequest {
  const common = { model: body.model, ...(body.add_special_tokens === undefined ? {} : { addSpecialTokens: body.add_special_tokens }) };
  if ('prompt' in body) return { ...common, input: { text: body.prompt } };
  return {
    ...common,
    input: { messages: body.messages.map((m) => ({ role: m.role, content: m.content })) },
    ...(body.add_generation_prompt === undefined ? {} : { addGenerationPrompt: body.add_generation_prompt }),
  };
}

export const tokenizeToWire = (result: TokenizeResult) => ({ count: result.ids.length, max_model_len: result.maxLength, tokens: result.ids });

export const detokenizeFromWire = (body: DetokenizeWireRequest): DetokenizeRequest => ({ model: body.model, ids: body.tokens });
export const detokenizeToWire = (prompt: string) => ({ prompt });
