// Starts the real composition (config -> runtime -> app -> HTTP) on an ephemeral loopback port.
import type { RepositoryConfig } from '../../runtime/index.ts';
import { serve } from '../../wrangler-free-local/serve.ts';
import type { RouteName } from '../../handlers/app.ts';

export async function startServer(config: RepositoryConfig, route?: RouteName) {
  const running = await serve({ config, port: 0, host: '127.0.0.1', route, log: () => {} });
  await running.ready;
  return running;
}
