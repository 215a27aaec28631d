// POST /v3/rerank and the Cohere client paths (/v1/rerank, /v2/rerank, /v3/v1/rerank, /v3/v2/rerank).
import { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { errorResponse, invalidRequest } from '../shared/errors.ts';
import { jsonBody } from '../shared/validate.ts';
import { RerankRequestSchema, fromWire, toWire } from './wire.ts';

const PATHS: ReadonlyArray<[string, '1' | '2']> = [
  ['/v3/rerank', '2'],
  ['/v3/v2/rerank', '2'],
  ['/v2/rerank', '2'],
  ['/v3/v1/rerank', '1'],
  ['/v1/rerank', '1'],
];

export function createRerankApp(runtime: Runtime): Hono {
  const app = new Hono();
  // Cohere SDKs read `message` from error bodies; give them both envelopes on these paths.
  app.onError((err, c) => errorResponse(c, err, 'cohere'));

  /** Cohere v1 lets `model` be omitted; that is fine while exactly one rerank model is served. v2 requires it. */
  function modelFor(requested: string | undefined, version: '1' | '2'): string {
    if (requested !== undefined) return requested;
    if (version === '2') throw invalidRequest("Missing required parameter: 'model'.", 'model');
    const rerankers = runtime.listModels().filter((m) => m.task === 'rerank');
    if (rerankers.length === 1) return (rerankers[0] as { name: string }).name;
    throw invalidRequest("Missing required parameter: 'model'.", 'model');
  }

  for (const [path, version] of PATHS) {
    app.post(path, ...jsonBody(RerankRequestSchema, 'cohere'), async (c) => {
      const body = c.req.valid('json');
      const result = await runtime.rerank(fromWire(body, modelFor(body.model, version), c.req.raw.signal));
      return c.json(toWire(result, body, version));
    });
  }
  return app;
}
