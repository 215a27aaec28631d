// JSON body validation: valibot schemas through vValidator, failures as the OpenAI 400 envelope.
import { vValidator } from '@hono/valibot-validator';
import type { MiddlewareHandler } from 'hono';
import type * as v from 'valibot';
import { errorResponse, invalidRequest, type ErrorFlavor } from './errors.ts';

/** "messages[0].content" from a valibot issue path. */
function issuePath(issue: v.BaseIssue<unknown>): string | null {
  const parts = (issue.path ?? []).map((p) => (typeof p.key === 'number' ? `[${p.key}]` : `.${String(p.key)}`));
  return parts.length ? parts.join('').replace(/^\./, '') : null;
}

/** The deepest, most specific issue reads best for unions ("input[2]: Invalid type"). */
function describe(issues: readonly v.BaseIssue<unknown>[]): { message: string; param: string | null } {
  const flat: v.BaseIssue<unknown>[] = [];
  const walk = (list: readonly v.BaseIssue<unknown>[]) => {
    for (const issue of list) {
      flat.push(issue);
      if (issue.issues) walk(issue.issues);
    }
  };
  walk(issues);
  const best = flat.reduce((a, b) => ((b.path?.length ?? 0) > (a.path?.length ?? 0) ? b : a), issues[0] as v.BaseIssue<unknown>);
  const param = issuePath(best);
  if (best.kind === 'schema' && best.received === 'undefined' && best.type !== 'union') {
    return { message: `Missing required parameter: '${param}'.`, param };
  }
  if (best.type === 'strict_object' || best.type === 'never') {
    return { message: `Unrecognized request argument supplied: '${param}'.`, param };
  }
  return { message: `Invalid ${param ? `'${param}'` : 'request body'}: ${best.message}`, param };
}

/**
 * curl without -H sends application/x-www-form-urlencoded; many clients send no type at all.
 * Read those bodies as JSON too, instead of answering "model is required" for a present model.
 */
const assumeJson: MiddlewareHandler = async (c, next) => {
  const type = c.req.header('Content-Type') ?? '';
  if (!/json/i.test(type)) {
    const headers = new Headers(c.req.raw.headers);
    headers.set('Content-Type', 'application/json');
    c.req.raw = new Request(c.req.raw, { headers });
  }
  await next();
};

export function jsonBody<S extends v.GenericSchema>(schema: S, flavor: ErrorFlavor = 'openai') {
  return [
    assumeJson,
    vValidator('json', schema, (result, c) => {
      if (result.success) return;
      const { message, param } = describe(result.issues);
      return errorResponse(c, invalidRequest(message, param), flavor);
    }),
  ] as const;
}
