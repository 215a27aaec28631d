// POST /v3/embeddings (and /v1/embeddings): OpenAI-compatible embeddings.
import { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { jsonBody } from '../shared/validate.ts';
import { EmbeddingsRequestSchema, fromWire, toWire } from './wire.ts';

export function createEmbeddingsApp(runtime: Runtime): Hono {
  const app = new Hono();
  for (const path of ['/v3/embeddings', '/v1/embeddings']) {
    app.post(path, ...jsonBody(EmbeddingsRequestSchema), async (c) => {
      const body = c.req.valid('json');
      const result = await runtime.embed(fromWire(body, c.req.raw.signal));
      return c.json(toWire(result, body.encoding_format));
    });
  }
  return app;
}
