// The OpenAPI 3.1 document of a composed app, generated from the app itself: every route Hono has
// (with its mount prefix), and for JSON routes the valibot schema their jsonBody middleware
// validates with, converted by @valibot/to-json-schema. Nothing here is a hand-kept copy.
import { toJsonSchema } from '@valibot/to-json-schema';
import type { Hono } from 'hono';
import type * as v from 'valibot';
import { BODY_SCHEMA } from '../shared/validate.ts';

interface Operation {
  summary: string;
  tags: string[];
  parameters?: Array<{ name: string; in: 'path'; required: true; schema: { type: 'string' } }>;
  requestBody?: { required: true; content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string }>;
}

/**
 * The schema a route's handler validates with. A handler mounted through route() is wrapped by
 * Hono, which keeps the original under '__COMPOSED_HANDLER' (hono's utils/constants.ts); the
 * wrapping nests once per mount.
 */
function bodySchemaOf(handler: unknown): v.GenericSchema | undefined {
  for (let h = handler as Record<string | symbol, unknown> | undefined; h; h = h.__COMPOSED_HANDLER as Record<string | symbol, unknown> | undefined) {
    const schema = h[BODY_SCHEMA] as v.GenericSchema | undefined;
    if (schema) return schema;
  }
  return undefined;
}

/** Hono's `:model` and `:id{.+}` as OpenAPI's `{model}` and `{id}`. */
const openApiPath = (path: string) => path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}');
const paramsOf = (path: string) => [...path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);

/** The API family a path belongs to, for grouping in the page. */
function tagOf(path: string): string {
  if (/\/messages/.test(path)) return 'Anthropic Messages';
  if (/\/rerank$/.test(path)) return 'Cohere rerank';
  if (/^\/v2\/models\/:model\/infer\/./.test(path)) return 'Seldon per-model OpenAI routes';
  if (/^\/v2/.test(path)) return 'Open Inference Protocol';
  if (/^\/v[13]\//.test(path)) return 'OpenAI';
  return 'Operations';
}

export function openApiDocument(app: Hono, version: string): object {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const route of app.routes) {
    const method = route.method.toLowerCase();
    if (method === 'all' || route.path.includes('*')) continue; // middleware
    const path = openApiPath(route.path);
    const operations = (paths[path] ??= {});
    const existing = operations[method];
    const schema = bodySchemaOf(route.handler);
    const operation: Operation = existing ?? {
      summary: `${route.method} ${path}`,
      tags: [tagOf(route.path)],
      ...(paramsOf(route.path).length ? { parameters: paramsOf(route.path).map((name) => ({ name, in: 'path' as const, required: true as const, schema: { type: 'string' as const } })) } : {}),
      responses: { '200': { description: 'OK' }, '4XX': { description: "A client error, in the API's own error envelope" }, '5XX': { description: 'A server error' } },
    };
    if (schema) {
      // OpenAPI 3.1 schemas are JSON Schema 2020-12 by default: the converter's draft-07 $schema line is dropped.
      const { $schema: _, ...json } = toJsonSchema(schema, { errorMode: 'ignore' }) as Record<string, unknown>;
      operation.requestBody = { required: true, content: { 'application/json': { schema: json } } };
    }
    if (route.path.endsWith('/images/edits')) operation.requestBody = { required: true, content: { 'multipart/form-data': { schema: { type: 'object', required: ['image', 'prompt'], properties: { image: { type: 'string', format: 'binary' }, mask: { type: 'string', format: 'binary' }, prompt: { type: 'string' } } } } } };
    operations[method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'ovserve', version, description: 'Local models over the OpenAI, Anthropic, Cohere and Open Inference Protocol APIs.' },
    paths,
  };
}
