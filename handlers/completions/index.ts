// POST /completions (mounted under /v3 and /v1 by app.ts): OpenAI legacy completions, unary or streamed.
import type { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { SHARED_WIRE_PARAMS, usageOf } from '../shared/generation-params.ts';
import { answerGeneration, responseHeader } from '../shared/generation-route.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { DEFAULT_SSE, type SseOptions } from '../shared/sse.ts';
import { jsonBody } from '../shared/validate.ts';
import { CompletionRequestSchema, fromWire, logprobsToWire, toChunk, toWire } from './wire.ts';

export function createCompletionsApp(runtime: Runtime, sse: SseOptions = DEFAULT_SSE): Hono {
  const app = createRouteApp();
  app.post('/completions', ...jsonBody(CompletionRequestSchema), async (c) => {
    const body = c.req.valid('json');
    const header = responseHeader('cmpl', body.model);
    const withLogprobs = body.logprobs !== undefined && body.logprobs !== null;
    const includeUsage = body.stream_options?.include_usage === true;
    return answerGeneration(c, runtime, sse, {
      stream: body.stream === true,
      request: (signal) => fromWire(body, signal),
      wireParams: { ...SHARED_WIRE_PARAMS, maxTokens: 'max_tokens' },
      unary: (generation, choices) => toWire(header, choices, withLogprobs, usageOf(generation)),
      async streamed(generation, out) {
        // text_offset continues across chunks of the same choice.
        const offsets = new Array<number>(generation.choices).fill(0);
        for await (const event of generation) {
          if (event.type === 'finish') {
            out.send(toChunk(header, includeUsage, { index: event.index, text: '', logprobs: null, finishReason: event.reason }));
          } else if (event.text !== '' || event.tokens) {
            const logprobs = withLogprobs && event.tokens ? logprobsToWire(event.tokens, offsets[event.index] as number) : null;
            if (event.tokens) offsets[event.index] = (offsets[event.index] as number) + event.tokens.reduce((n, t) => n + t.token.length, 0);
            out.send(toChunk(header, includeUsage, { index: event.index, text: event.text, logprobs }));
          }
        }
        if (includeUsage) out.send(toChunk(header, true, null, usageOf(generation)));
      },
    });
  });
  return app;
}
