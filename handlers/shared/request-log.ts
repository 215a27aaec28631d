// Request ids and one structured line per request: an `x-request-id` the client sent (when it is
// a sane token) is kept, else one is made; either way it comes back in the response header. When
// a sink is given, each request ends with one record: id, method, matched route, model, status,
// duration. Bodies (and so prompts) are never part of it.
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
}

const SANE_ID = /^[\w.:@/+=-]{1,128}$/;

export function requestLog(sink?: (record: RequestRecord) => void): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const sent = c.req.header('x-request-id');
    const id = sent !== undefined && SANE_ID.test(sent) ? sent : randomUUID();
    c.set('requestId' as never, id as never);
    await next();
    c.header('x-request-id', id);
    if (!sink) return;
    const model = c.get('model' as never) as unknown;
    sink({
      request_id: id,
      method: c.req.method,
      route: c.req.routePath || 'unmatched',
      path: c.req.path,
      ...(typeof model === 'string' ? { model: model.slice(0, 200) } : {}),
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
    });
  };
}
