// POST /embeddings (mounted under /v3 and /v1 by app.ts): OpenAI-compatible embeddings.
import type { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { jsonBody } from '../shared/validate.ts';
import { EmbeddingsRequestSchema, fromWire, toWire } from './wire.ts';

export function createEmbeddingsApp(runtime: Runtime): Hono {
  const app = createRouteApp();
  app.post('/embeddings', ...jsonBody(EmbeddingsRequestSchema), async (c) => {
    const body = c.req.valid('json');
    const result = await runtime.embed(fromWire(body, c.req.raw.signal));
    return c.json(toWire(result, body.encoding_format));
  });
  return app;
}
