// Composition: config -> fixtures -> runtime -> app -> listening server, for all routes or one,
// plus the Open Inference Protocol gRPC service on its own port when one is given.
import { createApp, ROUTE_NAMES, ROUTES, type RouteName } from '../handlers/app.ts';
import { pino } from 'pino';
import { createPrometheusMetrics } from '../handlers/metrics/prometheus.ts';
import type { RequestRecord } from '../handlers/shared/request-log.ts';
import { createGrpcServer, grpcHost, type GrpcServer } from '../handlers/oip/grpc.ts';
import { hostName, isLoopbackHost } from '../handlers/shared/host-check.ts';
import { ensureFixtures } from '../models/ensure.ts';
import { createRuntime, type ModelTask, type RepositoryConfig, type Runtime } from '../runtime/index.ts';
import { listen, type CloseOptions, type RunningServer } from './lifecycle.ts';

export interface ServeOptions {
  config: RepositoryConfig;
  port: number;
  /** Addresses to listen on, all on one port. */
  host: string | readonly string[];
  /** Of those, ones that may be missing on this machine (skipped with a log line): the default's ::1. */
  optionalHosts?: readonly string[];
  /** One route per process; all routes when omitted. */
  route?: RouteName;
  /** Streams send a `: ping` comment after this long without data. */
  sseKeepAliveMs?: number;
  /** pino level of the per-request JSON lines (LOG_LEVEL): 'info' writes one per request; 'silent' none. Off when unset. */
  requestLogLevel?: string;
  /** LOG_PROMPTS=1: the request lines carry each generation's prompts. */
  logPrompts?: boolean;
  /** Host names answered besides loopback ones (OVSERVE_ALLOWED_HOSTS); `*` turns the check off. */
  allowedHosts?: readonly string[];
  /** API keys (OVSERVE_API_KEYS): when set, every route but health requires one. */
  apiKeys?: readonly string[];
  /** CORS origins (OVSERVE_CORS_ORIGINS); off when unset. */
  corsOrigins?: readonly string[];
  /** The Open Inference Protocol gRPC service's port (0: any free one); no gRPC server when omitted. */
  grpcPort?: number;
  log?: (line: string) => void;
}

/** What serve() returns: the HTTP server, plus the gRPC port when there is a gRPC server. */
export type ServedServer = RunningServer & { ready: Promise<void>; runtime: Runtime; grpcPort?: number };

/** Both loopback families unless told otherwise; ::1 may be missing (a machine without IPv6). */
const DEFAULT_HOSTS = ['127.0.0.1', '::1'];

/** HOST / --host: a comma-separated list of addresses. */
export function hostsOf(value: string | undefined): { host: string[]; optionalHosts: string[] } {
  const hosts = (value ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
  if (hosts.length === 0) return { host: DEFAULT_HOSTS, optionalHosts: ['::1'] };
  const bad = hosts.find((h) => !/^[\w.:-]+$/.test(h) || h.startsWith('['));
  if (bad !== undefined) throw new Error(`invalid HOST entry "${bad}"; use addresses or names, comma-separated (IPv6 without brackets)`);
  return { host: hosts, optionalHosts: [] };
}

export function parseRoute(value: string | undefined): RouteName | undefined {
  if (value === undefined || value === '' || value === 'all') return undefined;
  if ((ROUTE_NAMES as string[]).includes(value)) return value as RouteName;
  throw new Error(`unknown ROUTE "${value}"; use one of: all, ${ROUTE_NAMES.join(', ')}`);
}

/**
 * A server bound only to loopback addresses checks Host against DNS rebinding (loopback names plus
 * the configured ones); a server bound to any other address checks only when hosts are configured.
 */
function hostsToAllow(bound: readonly string[], configured: readonly string[] | undefined): readonly string[] | undefined {
  if (bound.every((host) => isLoopbackHost(hostName(grpcHost(host))))) return configured ?? [];
  return configured && configured.length > 0 ? configured : undefined;
}

/**
 * The gRPC service on the HTTP server's host, and the server whose close() drains both: the HTTP
 * drain closes the runtime (new calls on either protocol get not_ready) while gRPC stops taking
 * calls and lets its in-flight ones finish, within the same timeout. If the port cannot be bound,
 * the HTTP server is closed again and the error thrown.
 */
async function withGrpc(running: RunningServer, grpc: GrpcServer, port: number, hosts: readonly string[]): Promise<RunningServer & { grpcPort: number }> {
  let grpcPort = port;
  try {
    for (const host of hosts) grpcPort = await grpc.listen(grpcPort, host);
  } catch (err) {
    await Promise.all([running.close({ timeoutMs: 0 }), grpc.close({ timeoutMs: 0 })]);
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = (options: CloseOptions = {}) => (closing ??= Promise.all([running.close(options), grpc.close(options)]).then(() => {}));
  return { ...running, grpcPort, close };
}

export async function serve(options: ServeOptions): Promise<ServedServer> {
  const log = options.log ?? ((line: string) => console.log(line));
  // A one-route process loads only the models of the tasks its route serves.
  const tasks: readonly ModelTask[] | undefined = options.route ? ROUTES[options.route].tasks : undefined;
  const config = tasks ? { models: options.config.models.filter((m) => tasks.includes(m.task)) } : options.config;
  ensureFixtures(config, log);
  // Each server has its own registry, so several in one process (tests) never share counters.
  const metrics = createPrometheusMetrics();
  const runtime = createRuntime(config, { log, metrics: metrics.runtime });
  metrics.observe(runtime);
  const requests = options.requestLogLevel === undefined ? undefined : pino({ level: options.requestLogLevel, base: { service: 'ovserve' } });
  const app = createApp(runtime, {
    metrics,
    ...(requests ? { requestLog: (record: RequestRecord) => requests.info(record, 'request'), logPrompts: options.logPrompts === true } : {}),
    ...(options.route ? { routes: [options.route] } : {}),
    sseKeepAliveMs: options.sseKeepAliveMs,
    allowedHosts: hostsToAllow(typeof options.host === 'string' ? [options.host] : options.host, options.allowedHosts),
    apiKeys: options.apiKeys,
    corsOrigins: options.corsOrigins,
  });
  log(options.apiKeys?.length ? `auth: ${options.apiKeys.length} API key(s) required on every route but health (gRPC too)` : 'auth: off (no OVSERVE_API_KEYS set)');
  // Listen first: /v2/health/ready answers 503 until every model is warm.
  const http = await listen(app, runtime, options.port, options.host, { optional: options.optionalHosts ?? [], log });
  log(`ovserve listening on ${http.urls.join(', ')} (${options.route ?? 'all routes'})`);
  runtime.ready.then(
    () => log('all models loaded; ready'),
    (err: unknown) => log(`model loading failed: ${err instanceof Error ? err.message : String(err)}`),
  );
  let running: RunningServer & { grpcPort?: number } = http;
  if (options.grpcPort !== undefined) {
    // gRPC listens where HTTP could (the same hosts, less any the machine lacks).
    running = await withGrpc(http, createGrpcServer(runtime, { apiKeys: options.apiKeys }), options.grpcPort, http.hosts);
    log(`gRPC listening on ${http.hosts.map((h) => `${grpcHost(h)}:${running.grpcPort}`).join(', ')}`);
  }
  return { ...running, ready: runtime.ready, runtime };
}
