// `npm start`: reads flags and environment (PORT, HOST, ROUTE, OVSERVE_CONFIG, OVSERVE_DRAIN_TIMEOUT_S,
// OVSERVE_ALLOWED_HOSTS, GRPC_PORT, OVSERVE_API_KEYS[_FILE], OVSERVE_CORS_ORIGINS) and serves.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../runtime/index.ts';
import { closeOnSignals, DEFAULT_DRAIN_TIMEOUT_MS } from './lifecycle.ts';
import { parseRoute, serve } from './serve.ts';

const DEFAULT_CONFIG = join(dirname(fileURLToPath(import.meta.url)), '..', 'models', 'config.json');

/** OVSERVE_DRAIN_TIMEOUT_S: seconds a SIGTERM/SIGINT drain may take; unset or empty means the default. */
function parseDrainTimeoutMs(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_DRAIN_TIMEOUT_MS;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`invalid OVSERVE_DRAIN_TIMEOUT_S "${value}"; use a number of seconds >= 0 (default ${DEFAULT_DRAIN_TIMEOUT_MS / 1000})`);
  }
  return seconds * 1000;
}

/** OVSERVE_ALLOWED_HOSTS: comma-separated host names (`.example.com` for a domain, `*` for any). */
function parseAllowedHosts(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const hosts = value.split(',').map((h) => h.trim()).filter((h) => h !== '');
  const bad = hosts.find((h) => h !== '*' && !/^\.?[a-z0-9.:[\]-]+$/i.test(h));
  if (bad !== undefined) throw new Error(`invalid OVSERVE_ALLOWED_HOSTS entry "${bad}"; use host names, .domain suffixes or *`);
  return hosts;
}

/** --grpc-port / GRPC_PORT: the gRPC service's port (0: any free one); unset or empty means no gRPC server. */
function parseGrpcPort(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const port = /^\s*\d{1,5}\s*$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65535)) throw new Error(`invalid gRPC port "${value}" (--grpc-port / GRPC_PORT); use 0-65535, or leave it unset for no gRPC server`);
  return port;
}

/** A comma-separated list; unset or empty is none. */
const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

/** API keys: --api-key (repeatable) and OVSERVE_API_KEYS (comma-separated), plus OVSERVE_API_KEYS_FILE (one per line). */
function apiKeys(flags: readonly string[] | undefined): string[] | undefined {
  const file = process.env.OVSERVE_API_KEYS_FILE;
  const fromFile = file ? readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')) : [];
  const keys = [...(flags ?? []), ...list(process.env.OVSERVE_API_KEYS), ...fromFile];
  if (file && fromFile.length === 0) throw new Error(`OVSERVE_API_KEYS_FILE ${file} holds no key`);
  return keys.length > 0 ? keys : undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      route: { type: 'string' },
      'grpc-port': { type: 'string' },
      'api-key': { type: 'string', multiple: true },
    },
  });
  const configFile = values.config ?? process.env.OVSERVE_CONFIG ?? DEFAULT_CONFIG;
  const port = Number(values.port ?? process.env.PORT ?? 8000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port "${values.port ?? process.env.PORT}"`);
  const drainTimeoutMs = parseDrainTimeoutMs(process.env.OVSERVE_DRAIN_TIMEOUT_S);
  const running = await serve({
    config: loadConfigFile(configFile),
    port,
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    route: parseRoute(values.route ?? process.env.ROUTE),
    allowedHosts: parseAllowedHosts(process.env.OVSERVE_ALLOWED_HOSTS),
    grpcPort: parseGrpcPort(values['grpc-port'] ?? process.env.GRPC_PORT),
    apiKeys: apiKeys(values['api-key']),
    corsOrigins: list(process.env.OVSERVE_CORS_ORIGINS),
  });
  closeOnSignals(running, console.log, { drainTimeoutMs });
  // A model that cannot load is fatal for a server process (the log line says why).
  running.ready.catch(() => running.close({ timeoutMs: drainTimeoutMs, log: console.log }).finally(() => process.exit(1)));
}

main().catch((err: unknown) => {
  console.error(`ovserve: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
