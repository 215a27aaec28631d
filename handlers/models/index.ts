// GET /models and /models/{id} (mounted under /v3 and /v1 by app.ts): the OpenAI model list.
import type { Hono } from 'hono';
import { RuntimeError, type ModelInfo, type Runtime } from '../../runtime/index.ts';
import { createRouteApp } from '../shared/route-app.ts';

const toWire = (m: ModelInfo) => ({ id: m.name, object: 'model' as const, created: m.created, owned_by: 'ovserve' });

export function createModelsApp(runtime: Runtime): Hono {
  const app = createRouteApp();
  app.get('/models', (c) => c.json({ object: 'list' as const, data: runtime.listModels().map(toWire) }));
  app.get('/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    const model = runtime.listModels().find((m) => m.name === id);
    if (!model) throw new RuntimeError('model_not_found', `The model '${id}' does not exist.`, { param: 'model' });
    return c.json(toWire(model));
  });
  return app;
}
