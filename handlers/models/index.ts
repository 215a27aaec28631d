// GET /v3/models and /v3/models/{id} (with /v1 aliases): the OpenAI model list.
import { Hono } from 'hono';
import { RuntimeError, type ModelInfo, type Runtime } from '../../runtime/index.ts';

const toWire = (m: ModelInfo) => ({ id: m.name, object: 'model' as const, created: m.created, owned_by: 'ovserve' });

export function createModelsApp(runtime: Runtime): Hono {
  const app = new Hono();
  for (const base of ['/v3/models', '/v1/models']) {
    app.get(base, (c) => c.json({ object: 'list' as const, data: runtime.listModels().map(toWire) }));
    app.get(`${base}/:id{.+}`, (c) => {
      const id = c.req.param('id');
      const model = runtime.listModels().find((m) => m.name === id);
      if (!model) throw new RuntimeError('model_not_found', `The model '${id}' does not exist.`, { param: 'model' });
      return c.json(toWire(model));
    });
  }
  return app;
}
