// createApp: mounts the route apps over one runtime, with the shared error and not-found answers.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Runtime } from '../runtime/index.ts';
import { createChatCompletionsApp } from './chat-completions/index.ts';
import { createCompletionsApp } from './completions/index.ts';
import { createEmbeddingsApp } from './embeddings/index.ts';
import { createHealthApp } from './health/index.ts';
import { createModelsApp } from './models/index.ts';
import { createRerankApp } from './rerank/index.ts';
import { bodyLimit } from './shared/body-limit.ts';
import { errorResponse, flavorOf } from './shared/errors.ts';
import { hostCheck } from './shared/host-check.ts';
import { DEFAULT_SSE } from './shared/sse.ts';

/** The independently deployable endpoints; models and health are always mounted. */
export const ROUTES = {
  chat: createChatCompletionsApp,
  completions: createCompletionsApp,
  embeddings: createEmbeddingsApp,
  rerank: createRerankApp,
} as const;
export type RouteName = keyof typeof ROUTES;
export const ROUTE_NAMES = Object.keys(ROUTES) as RouteName[];

export interface AppOptions {
  routes?: readonly RouteName[];
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Streams send a `: ping` comment after this long without data. */
  sseKeepAliveMs?: number;
  /**
   * DNS-rebinding guard: when set, only loopback names and these hosts are answered (others get
   * 403). The composition root sets it when the server is bound to a loopback address.
   */
  allowedHosts?: readonly string[];
}

export function createApp(runtime: Runtime, options: AppOptions = {}): Hono {
  const app = new Hono();
  if (options.allowedHosts) app.use(hostCheck(options.allowedHosts));
  app.use(bodyLimit(options.maxBodyBytes ?? 32 * 1024 * 1024));
  app.route('/', createHealthApp(runtime));
  app.route('/', createModelsApp(runtime));
  const sse = options.sseKeepAliveMs === undefined ? DEFAULT_SSE : { keepAliveMs: options.sseKeepAliveMs };
  for (const name of options.routes ?? ROUTE_NAMES) app.route('/', ROUTES[name](runtime, sse));
  app.notFound((c) => errorResponse(c, new HTTPException(404, { message: `Unknown request URL: ${c.req.method} ${c.req.path}.` }), flavorOf(c.req.path)));
  app.onError((err, c) => errorResponse(c, err, flavorOf(c.req.path)));
  return app;
}
