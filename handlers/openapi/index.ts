// GET /openapi.json (the app's generated OpenAPI document) and GET /docs, a page that lists every
// route with its request schema — rendered here, with no scripts or assets from elsewhere, so it
// works on a machine without internet.
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import { openApiDocument } from './document.ts';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(doc: { paths: Record<string, Record<string, { tags: string[]; requestBody?: { content: Record<string, { schema: unknown }> } }>> }) {
  const groups = new Map<string, string[]>();
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const body = op.requestBody ? Object.entries(op.requestBody.content).map(([type, { schema }]) => `<details><summary>${escape(type)} body</summary><pre>${escape(JSON.stringify(schema, null, 2))}</pre></details>`).join('') : '';
      const item = `<li class="operation" data-method="${method.toUpperCase()}" data-path="${escape(path)}"><code class="method">${method.toUpperCase()}</code> <code class="path">${escape(path)}</code>${body}</li>`;
      const tag = op.tags[0] ?? 'Other';
      groups.set(tag, [...(groups.get(tag) ?? []), item]);
    }
  }
  const sections = [...groups].map(([tag, items]) => `<section><h2>${escape(tag)}</h2><ul>${items.join('')}</ul></section>`).join('');
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ovserve API</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:70rem}code.method{display:inline-block;width:4rem;font-weight:bold}li{margin:.3rem 0}pre{background:#f5f5f5;padding:.5rem;overflow:auto;max-height:30rem}</style></head>
<body><h1>ovserve API</h1><p>Every route this server mounts, generated from the schemas it validates with. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>${raw(sections)}</body></html>`;
}

export function createOpenApiApp(app: Hono, version: string): Hono {
  const docs = new Hono();
  let cached: ReturnType<typeof openApiDocument> | undefined;
  const doc = () => (cached ??= openApiDocument(app, version));
  docs.get('/openapi.json', (c) => c.json(doc()));
  docs.get('/docs', (c) => c.html(page(doc() as Parameters<typeof page>[0])));
  return docs;
}
