// Request ids and one structured line per request: an `x-request-id` the client sent (when it is
// a sane token) is kept, else one is made; either way it comes back in the response header. When
// a sink is given, each request ends with one record: id, method, matched route, model, status,
// duration, and for generations their tokens and time to first token — a stream's record waits
// for the stream's end (the handler says when). Bodies (and so prompts) are never part of it.
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export interface RequestRecord {
  request_id: string;
  method: string;
  route: string;
  path: string;
  model?: string;
  status: number;
  duration_ms: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  cached_tokens?: number;
  ttft_ms?: number;
  /** An error answer: its message, and what caused it when that was something else. */
  error?: string;
  cause?: string;
  /** The generation's prompts, only with LOG_PROMPTS=1. */
  prompt?: unknown;
}

/** What a generation handler tells the request log: its counts, read when the line is written. */
export interface GenerationLog {
  promptTokens: number;
  completionTokens(): number;
  cachedTokens(): number;
  /** Milliseconds from the request to its first token, once there is one. */
  ttftMs(): number | undefined;
}

/** Context keys the log reads and the handlers set. */
const GENERATION = 'generationLog' as never;
const DEFER = 'requestLogDefer' as never;
const ERROR = 'requestError' as never;
const PROMPT = 'requestPrompt' as never;

/** The error a request was answered with (errorResponse calls it). */
export function noteRequestError(c: { set(key: never, value: never): void }, err: unknown): void {
  c.set(ERROR, err as never);
}

/** A generation's prompts, for the line when prompts are logged (LOG_PROMPTS=1); never otherwise. */
export function notePrompt(c: { set(key: never, value: never): void }, prompt: unknown): void {
  c.set(PROMPT, prompt as never);
}

/** An error's message, and the innermost cause that is not just the same error renamed. */
function describeError(err: unknown): { error: string; cause?: string } {
  const message = err instanceof Error ? err.message : String(err);
  let cause: unknown = err instanceof Error ? err.cause : undefined;
  while (cause instanceof Error && cause.message === message && cause.cause !== undefined) cause = cause.cause;
  const because = cause instanceof Error ? cause.message : cause === undefined ? undefined : String(cause);
  return because === undefined || because === message ? { error: message } : { error: message, cause: because };
}

export interface RequestLogOptions {
  /** Put each generation's prompts in its line (LOG_PROMPTS=1). Off: prompts are never logged. */
  prompts?: boolean;
}

/** A generation handler registers its counts for the request's line. */
export function logGeneration(c: { set(key: never, value: never): void }, generation: GenerationLog): void {
  c.set(GENERATION, generation as never);
}

/**
 * A streaming handler asks for its line to wait: the returned function writes it (call it once the
 * stream has ended, however). Without a request log it does nothing.
 */
export function deferRequestLog(c: { get(key: never): unknown }): () => void {
  const defer = c.get(DEFER) as (() => () => void) | undefined;
  return defer ? defer() : () => {};
}

const SANE_ID = /^[\w.:@/+=-]{1,128}$/;

export function requestLog(sink?: (record: RequestRecord) => void, options: RequestLogOptions = {}): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const sent = c.req.header('x-request-id');
    const id = sent !== undefined && SANE_ID.test(sent) ? sent : randomUUID();
    c.set('requestId' as never, id as never);
    let deferred = false;
    if (sink) {
      c.set(DEFER, (() => {
        deferred = true;
        let written = false;
        return () => {
          if (written) return;
          written = true;
          write();
        };
      }) as never);
    }
    const ms = (x: number) => Math.round(x * 10) / 10;
    const write = () => {
      const model = c.get('model' as never) as unknown;
      const generation = c.get(GENERATION) as GenerationLog | undefined;
      const ttft = generation?.ttftMs();
      const error = c.get(ERROR) as unknown;
      const prompt = options.prompts ? (c.get(PROMPT) as unknown) : undefined;
      sink?.({
        request_id: id,
        method: c.req.method,
        route: c.req.routePath || 'unmatched',
        path: c.req.path,
        ...(typeof model === 'string' ? { model: model.slice(0, 200) } : {}),
        status: c.res.status,
        duration_ms: ms(performance.now() - started),
        ...(generation
          ? { prompt_tokens: generation.promptTokens, completion_tokens: generation.completionTokens(), cached_tokens: generation.cachedTokens(), ...(ttft === undefined ? {} : { ttft_ms: ms(ttft) }) }
          : {}),
        ...(error !== undefined ? describeError(error) : {}),
        ...(prompt !== undefined ? { prompt } : {}),
      });
    };
    await next();
    c.header('x-request-id', id);
    if (sink && !deferred) write();
  };
}
