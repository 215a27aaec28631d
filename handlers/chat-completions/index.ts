// POST /chat/completions (mounted under /v3 and /v1 by app.ts): OpenAI chat, unary or streamed.
import type { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { usageOf } from '../shared/generation-params.ts';
import { answerGeneration, responseHeader } from '../shared/generation-route.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { DEFAULT_SSE, type SseOptions } from '../shared/sse.ts';
import { jsonBody } from '../shared/validate.ts';
import { CHAT_WIRE_PARAMS, ChatRequestSchema, fromWire, toChunk, toolCallDeltas, toolCallId, toWire } from './wire.ts';

export function createChatCompletionsApp(runtime: Runtime, sse: SseOptions = DEFAULT_SSE): Hono {
  const app = createRouteApp();
  app.post('/chat/completions', ...jsonBody(ChatRequestSchema), async (c) => {
    const body = c.req.valid('json');
    const header = responseHeader('chatcmpl', body.model);
    const withLogprobs = body.logprobs === true;
    const includeUsage = body.stream_options?.include_usage === true;
    return answerGeneration(c, runtime, sse, {
      stream: body.stream === true,
      request: (signal) => fromWire(body, signal),
      // The client is told the name it sent: max_completion_tokens or max_tokens.
      wireParams: { ...CHAT_WIRE_PARAMS, maxTokens: body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens' },
      unary: (generation, choices) => toWire(header, choices, withLogprobs, usageOf(generation)),
      async streamed(generation, out) {
        for (let index = 0; index < generation.choices; index++) out.send(toChunk(header, includeUsage, { index, delta: { role: 'assistant', content: '' } }));
        for await (const event of generation) {
          if (event.type === 'finish') {
            out.send(toChunk(header, includeUsage, { index: event.index, delta: {}, finishReason: event.reason }));
            continue;
          }
          if (event.reasoning) out.send(toChunk(header, includeUsage, { index: event.index, delta: { reasoning_content: event.reasoning } }));
          if (event.text !== '' || event.tokens) {
            out.send(toChunk(header, includeUsage, { index: event.index, delta: { content: event.text }, ...(event.tokens && withLogprobs ? { tokens: event.tokens } : {}) }));
          }
          for (const call of event.toolCalls ?? []) {
            for (const delta of toolCallDeltas(call.callIndex, call, toolCallId())) out.send(toChunk(header, includeUsage, { index: event.index, delta }));
          }
        }
        if (includeUsage) out.send(toChunk(header, true, null, usageOf(generation)));
      },
    });
  });
  return app;
}
