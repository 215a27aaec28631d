// A route app's own Hono instance, carrying the shared error answers in its API's envelope, so a
// route imported alone (not through app.ts) still answers every failure as its clients expect.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { errorResponse, type ErrorFlavor } from './errors.ts';

export function createRouteApp(flavor: ErrorFlavor = 'openai'): Hono {
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err, flavor));
  app.notFound((c) => errorResponse(c, new HTTPException(404, { message: `Unknown request URL: ${c.req.method} ${c.req.path}.` }), flavor));
  return app;
}
