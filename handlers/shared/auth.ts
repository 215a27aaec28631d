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

export function apiKeyAuth(keys: readonly string[]): MiddlewareHandler {
  const accepted = keys.map(digest);
  return async (c, next) => {
    if (c.req.method === 'OPTIONS' || PROBE_PATHS.has(c.req.path)) return next();
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1]?.trim();
    const offered = bearer ?? c.req.header('x-api-key');
    if (offered !== undefined) {
      const candidate = digest(offered);
      // Every key is compared, so the time taken does not tell which one matched.
      let match = false;
      for (const key of accepted) match = timingSafeEqual(candidate, key) || match;
      if (match) return next();
    }
    const message = offered === undefined ? 'Missing API key: send Authorization: Bearer <key>.' : 'Incorrect API key provided.';
    const response = errorResponse(c, new HTTPException(401, { message }), flavorOf(c.req.path));
    response.headers.set('WWW-Authenticate', 'Bearer');
    return response;
  };
}
