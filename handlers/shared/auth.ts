// API keys: every API route requires `Authorization: Bearer <key>` (or Anthropic's `x-api-key`),
// compared in constant time; health probes and CORS preflights stay public. 401 in the route's
// own envelope, with the WWW-Authenticate challenge OpenAI sends.
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { createHash, timingSafeEqual } from 'node:crypto';
import { errorResponse, flavorOf } from './errors.ts';

/** Paths answered without a key or a checked Host: liveness and readiness probes (Kubernetes, KServe, load balancers). */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health', '/v2/health/live', '/v2/health/ready']);

/** Keys are compared by their SHA-256 digests: equal lengths, so timingSafeEqual never throws or leaks a length. */
const digest = (key: string) => createHash('sha256').update(key, 'utf8').digest();

/**
 * The key check both protocols share: from an `authorization` value (`Bearer <key>`) and an
 * `x-api-key` value, undefined when the key is accepted, else the message to refuse with.
 */
export function apiKeyCheck(keys: readonly string[]): (authorization: string | undefined, xApiKey: string | undefined) => string | undefined {
  const accepted = keys.map(digest);
  return (authorization, xApiKey) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
    const offered = bearer ?? xApiKey;
    if (offered === undefined) return 'Missing API key: send Authorization: Bearer <key>.';
    const candidate = digest(offered);
    // Every key is compared, so the time taken does not tell which one matched.
    let match = false;
    for (const key of accepted) match = timingSafeEqual(candidate, key) || match;
    return match ? undefined : 'Incorrect API key provided.';
  };
}

export function apiKeyAuth(keys: readonly string[]): MiddlewareHandler {
  const check = apiKeyCheck(keys);
  return async (c, next) => {
    if (c.req.method === 'OPTIONS' || PROBE_PATHS.has(c.req.path)) return next();
    const message = check(c.req.header('authorization'), c.req.header('x-api-key'));
    if (message === undefined) return next();
    const response = errorResponse(c, new HTTPException(401, { message }), flavorOf(c.req.path));
    response.headers.set('WWW-Authenticate', 'Bearer');
    return response;
  };
}
