// GET /metrics: the Prometheus text exposition of the server's registry.
import { Hono } from 'hono';
import type { Registry } from 'prom-client';

export function createMetricsApp(registry: Registry): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));
  return app;
}
