// JSON body validation: Content-Type, parse, depth, then the route's valibot schema; every
// failure answered in the route's own envelope.
import type { Env, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import * as v from 'valibot';
import { errorResponse, invalidRequest, type ErrorFlavor } from './errors.ts';
import { parseJsonBody } from './json-body.ts';
import { applyPathModel } from './path-model.ts';

type PathItem = NonNullable<v.BaseIssue<unknown>['path']>[number];

/** "messages[0].content" from a valibot issue path. */
function pathText(path: readonly PathItem[]): string | null {
  const parts = path.map((p) => (typeof p.key === 'number' ? `[${p.key}]` : `.${String(p.key)}`));
  return parts.length ? parts.join('').replace(/^\./, '') : null;
}

/**
 * The deepest, most specific issue reads best for unions ("input[2]: Invalid type"). A union's
 * sub-issues carry paths relative to the union, so each is prefixed with its parent's path; the
 * param named is the field the client sent (the union itself when no alternative matched).
 */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): { message: string; param: string | null } {
  const flat: Array<{ issue: v.BaseIssue<unknown>; path: PathItem[] }> = [];
  const walk = (list: readonly v.BaseIssue<unknown>[], prefix: PathItem[]) => {
    for (const issue of list) {
      const own = issue.path ?? [];
      const path = startsWith(own, prefix) ? own : [...prefix, ...own];
      flat.push({ issue, path });
      if (issue.issues) walk(issue.issues, path);
    }
  };
  walk(issues, []);
  const top = flat[0] as (typeof flat)[number];
  const best = flat.reduce((a, b) => (b.path.length > a.path.length ? b : a), top);
  const where = pathText(best.path);
  const param = top.issue.type === 'union' ? pathText(top.path) : where;
  const { issue } = best;
  if (issue.kind === 'schema' && issue.received === 'undefined' && issue.type !== 'union') {
    return { message: `Missing required parameter: '${where}'.`, param };
  }
  if (issue.type === 'strict_object' || issue.type === 'never') {
    return { message: `Unrecognized request argument supplied: '${where}'.`, param };
  }
  return { message: `Invalid ${where ? `'${where}'` : 'request body'}: ${issue.message}`, param };
}

const startsWith = (path: readonly PathItem[], prefix: readonly PathItem[]) =>
  prefix.length <= path.length && prefix.every((p, i) => path[i]?.key === p.key);

/** Deepest nesting a request body may have; no API here needs more than a handful of levels. */
export const MAX_JSON_DEPTH = 64;

/** `application/json`, with or without parameters such as charset. */
const JSON_TYPE = /^application\/json\s*(;.*)?$/i;

/**
 * The JSON body of a route, validated by `schema`, as `c.req.valid('json')`. Only a JSON
 * Content-Type is read as JSON: a page can send text/plain or a form without a CORS preflight,
 * so reading those would let any web page drive a local server (415 instead). The body is
 * parsed once, off the event loop when large, its depth bounded before anything walks it.
 * Under a per-model mount (/v2/models/:model/infer) the path supplies or checks the model.
 */
export function jsonBody<S extends v.GenericSchema>(schema: S, flavor: ErrorFlavor = 'openai') {
  const middleware: MiddlewareHandler<Env, string, { in: { json: v.InferInput<S> }; out: { json: v.InferOutput<S> } }> = async (c, next) => {
    const type = c.req.header('Content-Type');
    if (type === undefined || !JSON_TYPE.test(type)) {
      const sent = type === undefined ? 'no Content-Type' : `Content-Type '${type.slice(0, 100)}'`;
      return errorResponse(c, new HTTPException(415, { message: `Unsupported Media Type: this route takes 'application/json'; the request has ${sent}.` }), flavor);
    }
    const parsed = await parseJsonBody(await c.req.arrayBuffer(), MAX_JSON_DEPTH);
    if (!parsed.ok) {
      const message = parsed.reason === 'depth' ? `The request body nests deeper than ${MAX_JSON_DEPTH} levels.` : 'The request body is not valid JSON.';
      return errorResponse(c, invalidRequest(message), flavor);
    }
    let body: unknown;
    try {
      body = applyPathModel(parsed.value, c.req.param('model'));
    } catch (err) {
      return errorResponse(c, err, flavor);
    }
    const result = v.safeParse(schema, body);
    if (!result.success) {
      const { message, param } = describeIssues(result.issues);
      return errorResponse(c, invalidRequest(message, param), flavor);
    }
    c.req.addValidatedData('json', result.output as object);
    // For the request log: the model a request is about.
    const model = (result.output as { model?: unknown }).model;
    if (typeof model === 'string') c.set('model' as never, model as never);
    await next();
  };
  // The schema travels with the middleware, so the OpenAPI document is generated from what routes validate.
  Object.defineProperty(middleware, BODY_SCHEMA, { value: schema });
  return [middleware] as const;
}

/** Where a jsonBody middleware keeps its schema (handlers/openapi reads it off the app's routes). */
export const BODY_SCHEMA = Symbol.for('ovserve.bodySchema');
