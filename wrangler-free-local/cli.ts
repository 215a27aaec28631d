// `npm start`: reads flags and environment (PORT, HOST, ROUTE, OVSERVE_CONFIG) and serves.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../runtime/index.ts';
import { closeOnSignals } from './lifecycle.ts';
import { parseRoute, serve } from './serve.ts';

const DEFAULT_CONFIG = join(dirname(fileURLToPath(import.meta.url)), '..', 'models', 'config.json');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      route: { type: 'string' },
    },
  });
  const configFile = values.config ?? process.env.OVSERVE_CONFIG ?? DEFAULT_CONFIG;
  const port = Number(values.port ?? process.env.PORT ?? 8000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port "${values.port ?? process.env.PORT}"`);
  const running = await serve({
    config: loadConfigFile(configFile),
    port,
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    route: parseRoute(values.route ?? process.env.ROUTE),
  });
  closeOnSignals(running, console.log);
  // A model that cannot load is fatal for a server process (the log line says why).
  running.ready.catch(() => running.close().finally(() => process.exit(1)));
}

main().catch((err: unknown) => {
  console.error(`ovserve: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
