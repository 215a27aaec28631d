// What chat and completions handlers share: the response envelope, and answering one generation
// either as a single JSON body or as an SSE stream.
import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { GenerateRequest, Generation, Runtime } from '../../runtime/index.ts';
import { collectChoices, type ChoiceResult } from './collect.ts';
import { withWireParams } from './errors.ts';
import { SYSTEM_FINGERPRINT } from './generation-params.ts';
import { deferRequestLog, logGeneration, notePrompt } from './request-log.ts';
import { sseResponse, type SseEnding, type SseOptions, type SseWriter } from './sse.ts';

export interface ResponseHeader {
  id: string;
  created: number;
  model: string;
}

export function responseHeader(idPrefix: string, model: string): ResponseHeader {
  return { id: `${idPrefix}-${randomUUID().replace(/-/g, '')}`, created: Math.floor(Date.now() / 1000), model };
}

/** The fields every response object and chunk starts with. */
export function envelope<O extends string>(header: ResponseHeader, object: O) {
  return { id: header.id, object, created: header.created, model: header.model, system_fingerprint: SYSTEM_FINGERPRINT };
}

export interface GenerationAnswer {
  stream: boolean;
  /** The runtime request, bound to the signal that cancels it. */
  request: (signal: AbortSignal) => GenerateRequest;
  unary: (generation: Generation, choices: ChoiceResult[]) => object;
  streamed: (generation: Generation, out: SseWriter) => Promise<void>;
  /** Runtime field -> the wire field this request used, for error params. */
  wireParams: Readonly<Record<string, string>>;
  /** How the stream ends and names its errors (default OpenAI's: `[DONE]`, OpenAI's envelope). */
  ending?: SseEnding;
}

/**
 * Starts the generation first, so bad requests, unknown models and a full queue answer as plain
 * JSON errors with their status; only then does a stream begin.
 */
export async function answerGeneration(c: Context, runtime: Runtime, sse: SseOptions, answer: GenerationAnswer): Promise<Response> {
  const requested = performance.now();
  const start = (signal: AbortSignal) => {
    const request = answer.request(signal);
    notePrompt(c, request.prompts);
    return runtime.generate(request).then(
      (generation) => logged(c, generation, requested),
      (err: unknown) => Promise.reject(withWireParams(err, answer.wireParams)),
    );
  };
  if (!answer.stream) {
    const generation = await start(c.req.raw.signal);
    return c.json(answer.unary(generation, await collectChoices(generation)));
  }
  const cancel = new AbortController();
  // Until the stream exists, the request's own signal is the one that says the client left.
  const left = () => cancel.abort();
  c.req.raw.signal.addEventListener('abort', left, { once: true });
  let generation: Generation;
  try {
    generation = await start(cancel.signal);
  } finally {
    c.req.raw.signal.removeEventListener('abort', left);
  }
  const writeLog = deferRequestLog(c);
  return sseResponse(c, sse, cancel, (out) => answer.streamed(generation, out).finally(writeLog), answer.ending);
}

/**
 * The generation as handlers see it, noting when its first token came, and registered for the
 * request's log line (its tokens and time to first token).
 */
function logged(c: Context, generation: Generation, requested: number): Generation {
  let firstToken: number | undefined;
  logGeneration(c, {
    promptTokens: generation.promptTokens,
    completionTokens: () => generation.completionTokens(),
    cachedTokens: () => generation.cachedTokens(),
    ttftMs: () => (firstToken === undefined ? undefined : firstToken - requested),
  });
  return {
    promptTokens: generation.promptTokens,
    choices: generation.choices,
    completionTokens: () => generation.completionTokens(),
    cachedTokens: () => generation.cachedTokens(),
    async *[Symbol.asyncIterator]() {
      for await (const event of generation) {
        if (firstToken === undefined && event.type === 'delta' && event.tokenIds.length > 0) firstToken = performance.now();
        yield event;
      }
    },
  };
}
