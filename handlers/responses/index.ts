// POST /responses (mounted under /v3, /v1 and Seldon's per-model base): OpenAI's Responses API,
// stateless, answered by the same chat generation as /chat/completions, unary or as its named
// stream events.
import type { Hono } from 'hono';
import type { Generation, GenerationEvent, Runtime } from '../../runtime/index.ts';
import type { ChoiceResult } from '../shared/collect.ts';
import { toWireError, withWireParams } from '../shared/errors.ts';
import { answerGeneration } from '../shared/generation-route.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { DEFAULT_SSE, type SseOptions, type SseWriter } from '../shared/sse.ts';
import { jsonBody } from '../shared/validate.ts';
import { createResponseEvents, fromWire, logprobsOf, responseShell, RESPONSES_WIRE_PARAMS, ResponsesRequestSchema, type StreamEvent } from './wire.ts';

/** One stream event, named in its `event:` line as OpenAI sends them. */
const sendEvent = (out: SseWriter, event: StreamEvent) => out.sendEvent(event.type, event);

const usageOf = (generation: Generation) => ({ promptTokens: generation.promptTokens, completionTokens: generation.completionTokens(), cachedTokens: generation.cachedTokens() });

/** A collected choice as the events it came from: one delta with everything, then its finish. */
const replay = (choice: ChoiceResult): GenerationEvent[] => [
  { type: 'delta', index: 0, text: choice.text, tokenIds: [], tokens: choice.tokens, ...(choice.reasoning ? { reasoning: choice.reasoning } : {}), ...(choice.toolCalls.length ? { toolCalls: choice.toolCalls.map((c, i) => ({ ...c, callIndex: i })) } : {}) },
  { type: 'finish', index: 0, reason: choice.finishReason },
];

export function createResponsesApp(runtime: Runtime, sse: SseOptions = DEFAULT_SSE): Hono {
  const app = createRouteApp();
  app.post('/responses', ...jsonBody(ResponsesRequestSchema), async (c) => {
    const body = c.req.valid('json');
    const shell = responseShell(body);
    const withLogprobs = logprobsOf(body) !== undefined;
    return answerGeneration(c, runtime, sse, {
      stream: body.stream === true,
      request: (signal) => fromWire(body, signal),
      wireParams: RESPONSES_WIRE_PARAMS,
      // The Responses API ends a stream with its last event, not `[DONE]`.
      ending: { done: null, flavor: 'openai' },
      unary(generation, choices) {
        const events = createResponseEvents(shell, withLogprobs);
        for (const event of replay(choices[0] as ChoiceResult)) events.push(event);
        return events.end(usageOf(generation)).response;
      },
      async streamed(generation, out) {
        const events = createResponseEvents(shell, withLogprobs);
        for (const e of events.start()) sendEvent(out, e);
        try {
          for await (const event of generation) for (const e of events.push(event)) sendEvent(out, e);
        } catch (err) {
          // After the headers an error is an `error` event, then `response.failed`; a client that left gets nothing.
          if ((err as { kind?: string }).kind === 'cancelled') throw err;
          const { error } = toWireError(withWireParams(err, RESPONSES_WIRE_PARAMS)).body as { error: { message: string; type: string; param: string | null; code: string | null } };
          for (const e of events.fail(error, usageOf(generation))) sendEvent(out, e);
          return;
        }
        for (const e of events.end(usageOf(generation)).events) sendEvent(out, e);
      },
    });
  });
  return app;
}
