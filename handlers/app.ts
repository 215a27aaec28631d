// createApp: the mount table. Each route app declares paths relative to its mount and carries its
// own error answers; this table says which app goes under which prefixes (adding one is a line),
// which model tasks each needs, and adds health, models, the body limit and the host check.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ModelTask, Runtime } from '../runtime/index.ts';
import { createChatCompletionsApp } from './chat-completions/index.ts';
import { createCompletionsApp } from './completions/index.ts';
import { createEmbeddingsApp } from './embeddings/index.ts';
import { createMessagesApp } from './messages/index.ts';
import { createHealthApp } from './health/index.ts';
import { createImagesApp } from './images/index.ts';
import { createMetricsApp } from './metrics/index.ts';
import type { PrometheusMetrics } from './metrics/prometheus.ts';
import { createOpenApiApp } from './openapi/index.ts';
import { createModelsApp } from './models/index.ts';
import { createOipApp } from './oip/index.ts';
import { createRerankApp } from './rerank/index.ts';
import { createResponsesApp } from './responses/index.ts';
import { createTokenizeApp } from './tokenize/index.ts';
import { cors } from 'hono/cors';
import { apiKeyAuth } from './shared/auth.ts';
import { bodyLimit } from './shared/body-limit.ts';
import { errorResponse, flavorOf } from './shared/errors.ts';
import { hostCheck } from './shared/host-check.ts';
import { requestLog, type RequestRecord } from './shared/request-log.ts';
import { DEFAULT_SSE, type SseOptions } from './shared/sse.ts';

/** One mount of a route app: its prefix, and for rerank the Cohere API version that prefix speaks. */
interface Mount {
  prefix: string;
  apiVersion?: '1' | '2';
}

interface RouteEntry {
  /** Model tasks the route serves: a one-route process loads only these. */
  tasks: readonly ModelTask[];
  mounts: readonly Mount[];
  create(runtime: Runtime, context: { sse: SseOptions; mount: Mount }): Hono;
}

/** The API document's version: the package's. */
const API_VERSION = '0.1.0';

/** The binary tensor extension's header, which browsers may send and read. */
const HEADER_LENGTH = 'Inference-Header-Content-Length';

const OPENAI: readonly Mount[] = [{ prefix: '/v3' }, { prefix: '/v1' }];
/**
 * Seldon Core 2's per-model OpenAI routes: clients set base_url to .../v2/models/<model>/infer and
 * the path supplies the model (handlers/shared/path-model.ts).
 */
const PER_MODEL: Mount = { prefix: '/v2/models/:model/infer' };

/** The independently deployable endpoints; models and health are always mounted. */
export const ROUTES = {
  chat: { tasks: ['text-generation'], mounts: [...OPENAI, PER_MODEL], create: (runtime, { sse }) => createChatCompletionsApp(runtime, sse) },
  completions: { tasks: ['text-generation'], mounts: [...OPENAI, PER_MODEL], create: (runtime, { sse }) => createCompletionsApp(runtime, sse) },
  responses: { tasks: ['text-generation'], mounts: [...OPENAI, PER_MODEL], create: (runtime, { sse }) => createResponsesApp(runtime, sse) },
  embeddings: { tasks: ['embeddings'], mounts: [...OPENAI, PER_MODEL], create: (runtime) => createEmbeddingsApp(runtime) },
  images: { tasks: ['text-to-image'], mounts: [...OPENAI, PER_MODEL], create: (runtime) => createImagesApp(runtime) },
  // Anthropic's Messages API: its SDKs append /v1/messages to their base URL, which may be .../v3.
  messages: { tasks: ['text-generation'], mounts: [...OPENAI, { prefix: '/v3/v1' }], create: (runtime, { sse }) => createMessagesApp(runtime, sse) },
  rerank: {
    tasks: ['rerank'],
    // Cohere SDKs append /v1/rerank or /v2/rerank to their base URL, often set to .../v3.
    mounts: [
      { prefix: '/v3', apiVersion: '2' },
      { prefix: '/v3/v2', apiVersion: '2' },
      { prefix: '/v2', apiVersion: '2' },
      { prefix: '/v3/v1', apiVersion: '1' },
      { prefix: '/v1', apiVersion: '1' },
      { prefix: PER_MODEL.prefix, apiVersion: '2' },
      { prefix: `${PER_MODEL.prefix}/v2`, apiVersion: '2' },
      { prefix: `${PER_MODEL.prefix}/v1`, apiVersion: '1' },
    ],
    create: (runtime, { mount }) => createRerankApp(runtime, { apiVersion: mount.apiVersion ?? '2' }),
  },
  // The Open Inference Protocol over every model; `tensor` is the same routes for tensor models only.
  oip: { tasks: ['embeddings', 'rerank', 'text-generation', 'tensor'], mounts: [{ prefix: '/v2' }], create: (runtime, { sse }) => createOipApp(runtime, sse) },
  tensor: { tasks: ['tensor'], mounts: [{ prefix: '/v2' }], create: (runtime, { sse }) => createOipApp(runtime, sse) },
  // vLLM's tokenizer routes, at the root as vLLM serves them and under /v3.
  tokenize: { tasks: ['embeddings', 'rerank', 'text-generation'], mounts: [{ prefix: '/' }, { prefix: '/v3' }], create: (runtime) => createTokenizeApp(runtime) },
} as const satisfies Record<string, RouteEntry>;
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
  /** API keys: when any is set, every route but health requires one (401 otherwise). */
  apiKeys?: readonly string[];
  /** Origins allowed by CORS (`*` for any); off when unset. */
  corsOrigins?: readonly string[];
  /** Prometheus metrics: HTTP requests are counted and GET /metrics serves the registry (behind API keys when set). */
  metrics?: PrometheusMetrics;
  /** Receives one record per request (ids are given and returned in `x-request-id` either way). */
  requestLog?: (record: RequestRecord) => void;
  /** With requestLog: each generation's prompts in its line (LOG_PROMPTS=1); never otherwise. */
  logPrompts?: boolean;
}

export function createApp(runtime: Runtime, options: AppOptions = {}): Hono {
  const app = new Hono();
  app.use(requestLog(options.requestLog, { prompts: options.logPrompts === true }));
  if (options.metrics) app.use(options.metrics.http);
  if (options.allowedHosts) app.use(hostCheck(options.allowedHosts));
  // CORS before auth: a browser's preflight carries no credentials and must be answered.
  if (options.corsOrigins && options.corsOrigins.length > 0) {
    const origins = options.corsOrigins;
    app.use(cors({ origin: origins.includes('*') ? '*' : [...origins], allowHeaders: ['Authorization', 'Content-Type', 'x-api-key', 'x-request-id', HEADER_LENGTH], exposeHeaders: ['Retry-After', HEADER_LENGTH], maxAge: 600 }));
  }
  if (options.apiKeys && options.apiKeys.length > 0) app.use(apiKeyAuth(options.apiKeys));
  app.use(bodyLimit(options.maxBodyBytes ?? 32 * 1024 * 1024));
  app.route('/', createHealthApp(runtime));
  if (options.metrics) app.route('/', createMetricsApp(options.metrics.registry));
  for (const { prefix } of OPENAI) app.route(prefix, createModelsApp(runtime));
  const sse = options.sseKeepAliveMs === undefined ? DEFAULT_SSE : { keepAliveMs: options.sseKeepAliveMs };
  // `tensor` is a subset of `oip`: in one all-routes process the OIP routes are mounted once.
  const names = options.routes ?? ROUTE_NAMES.filter((n) => n !== 'tensor');
  for (const name of names) {
    const route: RouteEntry = ROUTES[name];
    for (const mount of route.mounts) app.route(mount.prefix, route.create(runtime, { sse, mount }));
  }
  // Last, so the document sees every route mounted above (itself included).
  app.route('/', createOpenApiApp(app, API_VERSION));
  app.notFound((c) => errorResponse(c, new HTTPException(404, { message: `Unknown request URL: ${c.req.method} ${c.req.path}.` }), flavorOf(c.req.path)));
  app.onError((err, c) => errorResponse(c, err, flavorOf(c.req.path)));
  return app;
}
