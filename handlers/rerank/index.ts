// POST /rerank: Cohere rerank, mounted by app.ts under /v3 and the Cohere client paths (/v1, /v2,
// /v3/v1, /v3/v2); the mount says which API version answers.
import type { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { invalidRequest } from '../shared/errors.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { jsonBody } from '../shared/validate.ts';
import { RerankRequestSchema, fromWire, toWire } from './wire.ts';

export interface RerankAppOptions {
  /** Cohere API version of this mount: v1 lets `model` be omitted and labels `meta` "1". */
  apiVersion: '1' | '2';
}

export function createRerankApp(runtime: Runtime, { apiVersion }: RerankAppOptions = { apiVersion: '2' }): Hono {
  // Cohere SDKs read `message` from error bodies; give them both envelopes on these paths.
  const app = createRouteApp('cohere');

  /** Cohere v1 lets `model` be omitted; that is fine while exactly one rerank model is served. v2 requires it. */
  function modelFor(requested: string | undefined): string {
    if (requested !== undefined) return requested;
    if (apiVersion === '2') throw invalidRequest("Missing required parameter: 'model'.", 'model');
    const rerankers = runtime.listModels().filter((m) => m.task === 'rerank');
    if (rerankers.length === 1) return (rerankers[0] as { name: string }).name;
    throw invalidRequest("Missing required parameter: 'model'.", 'model');
  }

  app.post('/rerank', ...jsonBody(RerankRequestSchema, 'cohere'), async (c) => {
    const body = c.req.valid('json');
    const result = await runtime.rerank(fromWire(body, modelFor(body.model), c.req.raw.signal));
    return c.json(toWire(result, body, apiVersion));
  });
  return app;
}
