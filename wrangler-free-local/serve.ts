// Composition: config -> fixtures -> runtime -> app -> listening server, for all routes or one.
import { createApp, ROUTE_NAMES, ROUTES, type RouteName } from '../handlers/app.ts';
import { hostName, isLoopbackHost } from '../handlers/shared/host-check.ts';
import { ensureFixtures } from '../models/ensure.ts';
import { createRuntime, type ModelTask, type RepositoryConfig, type Runtime } from '../runtime/index.ts';
import { listen, type RunningServer } from './lifecycle.ts';

export interface ServeOptions {
  config: RepositoryConfig;
  port: number;
  host: string;
  /** One route per process; all routes when omitted. */
  route?: RouteName;
  /** Streams send a `: ping` comment after this long without data. */
  sseKeepAliveMs?: number;
  /** Host names answered besides loopback ones (OVSERVE_ALLOWED_HOSTS); `*` turns the check off. */
  allowedHosts?: readonly string[];
  log?: (line: string) => void;
}

export function parseRoute(value: string | undefined): RouteName | undefined {
  if (value === undefined || value === '' || value === 'all') return undefined;
  if ((ROUTE_NAMES as string[]).includes(value)) return value as RouteName;
  throw new Error(`unknown ROUTE "${value}"; use one of: all, ${ROUTE_NAMES.join(', ')}`);
}

/**
 * A loopback-bound server checks Host against DNS rebinding (loopback names plus the configured
 * ones); a server bound to another address checks only when hosts are configured.
 */
function hostsToAllow(bound: string, configured: readonly string[] | undefined): readonly string[] | undefined {
  if (isLoopbackHost(hostName(bound.includes(':') && !bound.startsWith('[') ? `[${bound}]` : bound))) return configured ?? [];
  return configured && configured.length > 0 ? configured : undefined;
}

export async function serve(options: ServeOptions): Promise<RunningServer & { ready: Promise<void>; runtime: Runtime }> {
  const log = options.log ?? ((line: string) => console.log(line));
  // A one-route process loads only the models of the tasks its route serves.
  const tasks: readonly ModelTask[] | undefined = options.route ? ROUTES[options.route].tasks : undefined;
  const config = tasks ? { models: options.config.models.filter((m) => tasks.includes(m.task)) } : options.config;
  ensureFixtures(config, log);
  const runtime = createRuntime(config, { log });
  const app = createApp(runtime, {
    ...(options.route ? { routes: [options.route] } : {}),
    sseKeepAliveMs: options.sseKeepAliveMs,
    allowedHosts: hostsToAllow(options.host, options.allowedHosts),
  });
  // Listen first: /v2/health/ready answers 503 until every model is warm.
  const running = await listen(app, runtime, options.port, options.host);
  log(`ovserve listening on ${running.url} (${options.route ?? 'all routes'})`);
  runtime.ready.then(
    () => log('all models loaded; ready'),
    (err: unknown) => log(`model loading failed: ${err instanceof Error ? err.message : String(err)}`),
  );
  return { ...running, ready: runtime.ready, runtime };
}
