// DNS-rebinding guard: a server bound to loopback answers only requests addressed to a loopback
// name (or a configured host), so a web page whose domain re-resolves to 127.0.0.1 cannot use it.
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { PROBE_PATHS } from './auth.ts';
import { errorResponse, flavorOf } from './errors.ts';

/** "127.0.0.1:8000" -> "127.0.0.1", "[::1]:8000" -> "::1", "Example.COM." -> "example.com". */
export function hostName(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']') < 0 ? undefined : host.indexOf(']')) : host.replace(/:\d*$/, '');
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

export function isLoopbackHost(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * Allows loopback names and `extra` (exact names, or `.example.com` for a domain and its
 * subdomains, or `*` for any); anything else is 403 in the route's envelope. Health probes are
 * answered whatever the Host (kubelet sends the pod's IP; they say only live and ready).
 */
export function hostCheck(extra: readonly string[]): MiddlewareHandler {
  const exact = new Set(extra.filter((h) => !h.startsWith('.')).map(hostName));
  const suffixes = extra.filter((h) => h.startsWith('.')).map((h) => h.toLowerCase());
  const anyHost = exact.has('*');
  return async (c, next) => {
    if (anyHost || PROBE_PATHS.has(c.req.path)) return next();
    const header = c.req.header('host') ?? new URL(c.req.url).host;
    const name = hostName(header);
    if (isLoopbackHost(name) || exact.has(name) || suffixes.some((s) => name.endsWith(s) || name === s.slice(1))) return next();
    const message = `Host '${header.slice(0, 200)}' is not allowed: this server is bound to a loopback address. Set OVSERVE_ALLOWED_HOSTS to serve other names.`;
    return errorResponse(c, new HTTPException(403, { message }), flavorOf(c.req.path));
  };
}
