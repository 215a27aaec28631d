// The one error table: runtime error kinds and HTTP faults -> status + the envelope of the API
// the client speaks (OpenAI, Cohere, Open Inference Protocol, Anthropic).
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { RuntimeError, type RuntimeErrorKind } from '../../runtime/index.ts';
import { noteRequestError } from './request-log.ts';

interface ErrorRow {
  status: ContentfulStatusCode;
  type: string;
  code: string | null;
  /** The gRPC status code (grpc/status.proto numbers) for the OIP gRPC service. */
  grpc: number;
}

/** gRPC status codes used here (google.rpc.Code). */
export const GRPC = { CANCELLED: 1, INVALID_ARGUMENT: 3, NOT_FOUND: 5, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14 } as const;

const TABLE: Record<RuntimeErrorKind, ErrorRow> = {
  invalid_request: { status: 400, type: 'invalid_request_error', code: null, grpc: GRPC.INVALID_ARGUMENT },
  model_not_found: { status: 404, type: 'invalid_request_error', code: 'model_not_found', grpc: GRPC.NOT_FOUND },
  wrong_task: { status: 400, type: 'invalid_request_error', code: 'model_not_supported', grpc: GRPC.INVALID_ARGUMENT },
  context_length_exceeded: { status: 400, type: 'invalid_request_error', code: 'context_length_exceeded', grpc: GRPC.INVALID_ARGUMENT },
  unsupported: { status: 400, type: 'invalid_request_error', code: 'unsupported_parameter', grpc: GRPC.INVALID_ARGUMENT },
  queue_full: { status: 429, type: 'rate_limit_error', code: 'queue_full', grpc: GRPC.RESOURCE_EXHAUSTED },
  not_ready: { status: 503, type: 'server_error', code: 'model_not_ready', grpc: GRPC.UNAVAILABLE },
  // Nobody is listening any more; 499 is what proxies log for a client that left.
  cancelled: { status: 499 as ContentfulStatusCode, type: 'invalid_request_error', code: 'cancelled', grpc: GRPC.CANCELLED },
  internal: { status: 500, type: 'server_error', code: null, grpc: GRPC.INTERNAL },
};

/**
 * Which API's clients read the body: OpenAI's `{"error": {...}}`; Cohere SDKs also read a
 * top-level `message`; the Open Inference Protocol's body is `{"error": "<message>"}`;
 * Anthropic's is `{"type": "error", "error": {"type", "message"}}`.
 */
export type ErrorFlavor = 'openai' | 'cohere' | 'oip' | 'anthropic';

/** Anthropic's error types, by status (its API reference's table). */
function anthropicType(status: number): string {
  const named: Record<number, string> = { 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 503: 'overloaded_error', 529: 'overloaded_error' };
  return named[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** The envelope for answers given before a route is chosen (body limit, host check, 404). */
export const flavorOf = (path: string): ErrorFlavor => {
  if (/\/rerank$/.test(path)) return 'cohere';
  if (/\/messages(\/count_tokens)?$/.test(path)) return 'anthropic';
  // OIP's own paths; the OpenAI routes mounted under /v2/models/{m}/infer/... keep OpenAI's envelope.
  if (/^\/v2(\/|$)/.test(path) && !/\/infer\/./.test(path)) return 'oip';
  return 'openai';
};

export interface WireError {
  status: ContentfulStatusCode;
  headers: Record<string, string>;
  body: { error: { message: string; type: string; param: string | null; code: string | null }; message?: string } | { error: string } | { type: 'error'; error: { type: string; message: string } };
}

/** Runtime field names are camelCase; the wire's are snake_case. */
const toWireParam = (param: string | null) => (param === null ? null : param.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));

export function toWireError(err: unknown, flavor: ErrorFlavor = 'openai'): WireError {
  let row: ErrorRow;
  let message: string;
  let param: string | null = null;
  const headers: Record<string, string> = {};
  if (err instanceof RuntimeError) {
    row = TABLE[err.kind];
    message = err.message;
    param = toWireParam(err.param);
    if (err.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.retryAfterSeconds);
  } else if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    row = { status, type: status >= 500 ? 'server_error' : 'invalid_request_error', code: null, grpc: status >= 500 ? GRPC.INTERNAL : GRPC.INVALID_ARGUMENT };
    message = err.message || 'Bad request.';
  } else {
    // Never a stack trace on the wire: the detail goes to the log.
    console.error(err);
    row = TABLE.internal;
    message = 'The server had an error while processing your request.';
  }
  if (flavor === 'oip') return { status: row.status, headers, body: { error: message } };
  if (flavor === 'anthropic') {
    // Anthropic's envelope has no param field: the message names the field instead.
    const named = param !== null && !message.includes(param) ? `${param}: ${message}` : message;
    return { status: row.status, headers, body: { type: 'error', error: { type: anthropicType(row.status), message: named } } };
  }
  const body: WireError['body'] = { error: { message, type: row.type, param, code: row.code } };
  if (flavor === 'cohere') body.message = message;
  return { status: row.status, headers, body };
}

/** The same table for gRPC: a status code and its details message (never a stack trace). */
export function toGrpcError(err: unknown): { code: number; details: string } {
  if (err instanceof RuntimeError) return { code: TABLE[err.kind].grpc, details: err.message };
  const wire = toWireError(err); // logs what it does not know
  const { message } = (wire.body as { error: { message: string } }).error;
  return { code: wire.status >= 500 ? GRPC.INTERNAL : GRPC.INVALID_ARGUMENT, details: message };
}

export function errorResponse(c: Context, err: unknown, flavor: ErrorFlavor = 'openai'): Response {
  const wire = toWireError(err, flavor);
  noteRequestError(c, err);
  return c.json(wire.body, wire.status, wire.headers);
}

/**
 * The runtime names its own fields (`maxTokens`, `prompt`); a route renames them to the wire field
 * its client actually sent (`max_completion_tokens`, `messages`). Other errors pass unchanged.
 */
export function withWireParams(err: unknown, names: Readonly<Record<string, string>>): unknown {
  if (!(err instanceof RuntimeError) || err.param === null || names[err.param] === undefined) return err;
  return new RuntimeError(err.kind, err.message, { param: names[err.param], retryAfterSeconds: err.retryAfterSeconds, cause: err });
}

/** A 4xx for input problems found at the edge (schema, JSON, routing). */
export function invalidRequest(message: string, param: string | null = null): RuntimeError {
  return new RuntimeError('invalid_request', message, { param });
}
