// JSON body validation: valibot schemas through vValidator, failures as the OpenAI 400 envelope.
import { vValidator } from '@hono/valibot-validator';
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type * as v from 'valibot';
import { errorResponse, invalidRequest, type ErrorFlavor } from './errors.ts';

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
function describe(issues: readonly v.BaseIssue<unknown>[]): { message: string; param: string | null } {
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

/** How deep a parsed JSON value nests, counted without recursion (a hostile body cannot overflow it). */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: node, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return false;
}

/** `application/json`, with or without parameters such as charset. */
const JSON_TYPE = /^application\/json\s*(;.*)?$/i;

/**
 * Only a JSON Content-Type is read as JSON: a page can send text/plain or a form without a CORS
 * preflight, so reading those as JSON would let any web page drive a local server. Then the
 * parsed body's depth is bounded before any schema or handler walks it.
 */
function jsonOnly(flavor: ErrorFlavor): MiddlewareHandler {
  return async (c, next) => {
    const type = c.req.header('Content-Type');
    if (type === undefined || !JSON_TYPE.test(type)) {
      const sent = type === undefined ? 'no Content-Type' : `Content-Type '${type.slice(0, 100)}'`;
      return errorResponse(c, new HTTPException(415, { message: `Unsupported Media Type: this route takes 'application/json'; the request has ${sent}.` }), flavor);
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return errorResponse(c, invalidRequest('The request body is not valid JSON.'), flavor);
    }
    if (jsonDepthExceeds(body, MAX_JSON_DEPTH)) {
      return errorResponse(c, invalidRequest(`The request body nests deeper than ${MAX_JSON_DEPTH} levels.`), flavor);
    }
    await next();
  };
}

export function jsonBody<S extends v.GenericSchema>(schema: S, flavor: ErrorFlavor = 'openai') {
  return [
    jsonOnly(flavor),
    vValidator('json', schema, (result, c) => {
      if (result.success) return;
      const { message, param } = describe(result.issues);
      return errorResponse(c, invalidRequest(message, param), flavor);
    }),
  ] as const;
}
