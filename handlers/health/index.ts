// Health probes: Open Inference Protocol live/ready, plus /health as OVMS and TEI users expect.
import { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';

export function createHealthApp(runtime: Runtime): Hono {
  const app = new Hono();
  app.get('/v2/health/live', (c) => c.json({ live: true }));
  for (const path of ['/v2/health/ready', '/health']) {
    app.get(path, (c) => c.json({ ready: runtime.isReady() }, runtime.isReady() ? 200 : 503));
  }
  return app;
}
