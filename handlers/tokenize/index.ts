// POST /tokenize and /detokenize (vLLM's routes; mounted at the root and under /v3 by app.ts).
import type { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { jsonBody } from '../shared/validate.ts';
import { DetokenizeRequestSchema, detokenizeFromWire, detokenizeToWire, TokenizeRequestSchema, tokenizeFromWire, tokenizeToWire } from './wire.ts';

export function createTokenizeApp(runtime: Runtime): Hono {
  const app = createRouteApp();
  app.post('/tokenize', ...jsonBody(TokenizeRequestSchema), async (c) => c.json(tokenizeToWire(await runtime.tokenize(tokenizeFromWire(c.req.valid('json'))))));
  app.post('/detokenize', ...jsonBody(DetokenizeRequestSchema), async (c) => c.json(detokenizeToWire(await runtime.detokenize(detokenizeFromWire(c.req.valid('json'))))));
  return app;
}
