// The fuzz runner shared by the test and the CLI: loads the OpenAPI request schemas, sends cases over
// raw HTTP, checks every answer against the wire contract, probes the server between batches.
import { createParser } from 'eventsource-parser';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request, type ClientRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { FuzzCase, FuzzRequest, JsonRoute, JsonSchema, RequestSchemas, RouteKind } from './cases.ts';
import { ROUTE_KINDS } from './cases.ts';

// ---------------------------------------------------------------------------------------------
// The OpenAPI request schemas, refs inlined (cut at cycles and depth), documentation dropped

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const DROP = new Set(['description', 'example', 'examples', 'title', 'default', 'deprecated', 'format', 'pattern']);

function inline(node: unknown, schemas: Record<string, unknown>, stack: readonly string[]): unknown {
  if (Array.isArray(node)) return node.map((n) => inline(n, schemas, stack));
  if (node === null || typeof node !== 'object') return node;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '');
    if (stack.includes(name) || stack.length > 7 || !(name in schemas)) return {};
    return inline(schemas[name], schemas, [...stack, name]);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) if (!DROP.has(k) && !k.startsWith('x-')) out[k] = inline(v, schemas, stack);
  return out;
}

/** A top-level request schema with its `allOf` parts merged, so `properties` and `required` are direct. */
function flatten(schema: JsonSchema): JsonSchema {
  if (!schema.allOf) return schema;
  const parts = schema.allOf.map(flatten);
  return {
    type: 'object',
    properties: Object.assign({}, ...parts.map((p) => p.properties ?? {}), schema.properties ?? {}) as Record<string, JsonSchema>,
    required: [...new Set(parts.flatMap((p) => p.required ?? []).concat(schema.required ?? []))],
  };
}

/** CreateChatCompletionRequest, CreateCompletionRequest, CreateEmbeddingRequest and the rerank bodies. */
export function loadRequestSchemas(specsDir: string): RequestSchemas {
  const openaiFile = join(specsDir, 'openai-openapi.yaml');
  const cohereFile = join(specsDir, 'cohere-openapi.yaml');
  const out: RequestSchemas = {};
  if (existsSync(openaiFile)) {
    const schemas = (parse(readFileSync(openaiFile, 'utf8')) as { components: { schemas: Record<string, unknown> } }).components.schemas;
    const named: Array<[JsonRoute, string]> = [
      ['chat', 'CreateChatCompletionRequest'],
      ['completions', 'CreateCompletionRequest'],
      ['embeddings', 'CreateEmbeddingRequest'],
    ];
    for (const [route, name] of named) out[route] = flatten(inline(schemas[name], schemas, [name]) as JsonSchema);
  }
  if (existsSync(cohereFile)) {
    const doc = parse(readFileSync(cohereFile, 'utf8')) as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    /** paths[path].post.requestBody.content['application/json'].schema */
    const body = (path: string) =>
      ['post', 'requestBody', 'content', 'application/json', 'schema'].reduce<unknown>((node, key) => (isObj(node) ? node[key] : undefined), doc.paths[path]);
    out['rerank-v1'] = flatten(inline(body('/v1/rerank'), doc.components.schemas, []) as JsonSchema);
    out['rerank-v2'] = flatten(inline(body('/v2/rerank'), doc.components.schemas, []) as JsonSchema);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sending one request exactly as written

export interface Target {
  host: string;
  port: number;
}

export interface Outcome {
  /** `hung`: no complete answer within the bound; `network`: the connection failed without an answer. */
  kind: 'response' | 'hung' | 'network';
  ms: number;
  status?: number;
  headers?: IncomingHttpHeaders;
  body?: Buffer;
  /** The SSE data payloads read (streams); `aborted` when the client stopped reading on purpose. */
  events?: string[];
  aborted?: boolean;
  error?: string;
}

export interface SendOptions {
  timeoutMs: number;
  abortAfterEvents?: number;
  /** A keep-alive pool; `false` or absent: a connection of its own. */
  agent?: Agent | false;
}

const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** Sockets that already swallow late errors (EPIPE while a body is still going out after a 413). */
const guarded = new WeakSet<Socket>();

/**
 * Sends `req` byte for byte and reads the answer. A keep-alive socket the server closed just as it
 * was reused fails with ECONNRESET before any answer: that one request is retried once on a fresh
 * connection, as HTTP clients do (the server never saw it).
 */
export function send(target: Target, req: FuzzRequest, options: SendOptions): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: Omit<Outcome, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...o, ms: performance.now() - started });
    };
    let current: ClientRequest | undefined;
    const timer = setTimeout(() => {
      finish({ kind: 'hung', error: `no complete answer within ${options.timeoutMs} ms` });
      current?.destroy();
    }, options.timeoutMs);
    const headers: OutgoingHttpHeaders = { ...req.headers };
    const body = req.body === null ? null : Buffer.from(req.body, req.encoding);
    if (body && !req.chunked) headers['content-length'] = body.length;

    const attempt = (agent: Agent | false | undefined, mayRetry: boolean) => {
      let answered = false;
      const r = request({ host: target.host, port: target.port, method: req.method, path: req.path, headers, agent });
      current = r;
      r.on('socket', (socket) => {
        if (guarded.has(socket)) return;
        guarded.add(socket);
        socket.on('error', () => {});
      });
      r.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        const type = String(res.headers['content-type'] ?? '');
        const events: string[] | undefined = type.startsWith('text/event-stream') ? [] : undefined;
        const parser = createParser({
          onEvent(event) {
            events?.push(event.data);
            if (options.abortAfterEvents !== undefined && (events?.length ?? 0) >= options.abortAfterEvents) {
              finish({ kind: 'response', status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), events, aborted: true });
              r.destroy();
            }
          },
        });
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
          if (events) parser.feed(chunk.toString('utf8'));
        });
        res.on('end', () => finish({ kind: 'response', status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), events, aborted: false }));
        res.on('error', (err) => finish({ kind: 'network', status: res.statusCode, headers: res.headers, error: `response cut off: ${(err as NodeJS.ErrnoException).code ?? err.message}` }));
        res.on('aborted', () => finish({ kind: 'network', status: res.statusCode, headers: res.headers, error: 'response cut off' }));
      });
      // A write error after the answer arrived (a 413 sent before the body was read) is fine.
      r.on('error', (err) => {
        if (answered || settled) return;
        const code = (err as NodeJS.ErrnoException).code;
        if (mayRetry && r.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) attempt(false, false);
        else finish({ kind: 'network', error: `${code ?? err.message} on a ${r.reusedSocket ? 'reused keep-alive' : 'fresh'} connection${mayRetry ? '' : ' (a retry)'}` });
      });
      if (body && req.chunked) {
        const piece = Math.max(1, Math.ceil(body.length / 3));
        for (let at = 0; at < body.length; at += piece) r.write(body.subarray(at, at + piece));
        r.end();
      } else r.end(body ?? undefined);
    };
    attempt(options.agent ?? false, true);
  });
}

// ---------------------------------------------------------------------------------------------
// Checking an answer against the contract

export type FailureKind = 'hung' | 'no-response' | '5xx' | 'accepted-invalid' | 'rejected-valid' | 'bad-envelope' | 'bad-body' | 'bad-stream' | 'bad-headers' | 'probe';

export interface Problem {
  kind: FailureKind;
  message: string;
}

const snippet = (b: Buffer | undefined, n = 300) => {
  const text = (b ?? Buffer.alloc(0)).subarray(0, n * 4).toString('utf8');
  return text.length > n ? `${text.slice(0, n)}...` : text;
};


/** What is wrong with an error body for the path, or null: OpenAI's four keys, plus Cohere's `message`; OIP's string. */
export function envelopeProblem(body: unknown, flavor: FuzzCase['flavor']): string | null {
  if (!isObj(body)) return 'the body is not a JSON object';
  if (flavor === 'oip') return typeof body.error === 'string' ? null : "no 'error' string (the Open Inference Protocol envelope)";
  const e = body.error;
  if (!isObj(e)) return "no 'error' object";
  if (typeof e.message !== 'string') return "'error.message' is not a string";
  if (typeof e.type !== 'string') return "'error.type' is not a string";
  if (!('param' in e) || (e.param !== null && typeof e.param !== 'string')) return "'error.param' is not a string or null";
  if (!('code' in e) || (e.code !== null && typeof e.code !== 'string')) return "'error.code' is not a string or null";
  if (flavor === 'cohere' && typeof body.message !== 'string') return "no top-level 'message' string (Cohere clients read it)";
  return null;
}

function parseJson(b: Buffer | undefined): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse((b ?? Buffer.alloc(0)).toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/** The first contract violation in one answer, or null. */
export function checkOutcome(c: FuzzCase, o: Outcome): Problem | null {
  if (o.kind === 'hung') return { kind: 'hung', message: o.error ?? 'hung' };
  if (o.kind === 'network' || o.status === undefined) return { kind: 'no-response', message: `${o.error ?? 'no answer'}${o.status ? ` (after status ${o.status})` : ''}` };
  const status = o.status;
  const head = c.request.method === 'HEAD';
  const body = head ? '' : ` ${snippet(o.body)}`;
  if (status >= 500) return { kind: '5xx', message: `${status}${body}` };
  const ok = status >= 200 && status < 300;
  if (c.expect === 'reject' && ok) return { kind: 'accepted-invalid', message: `${status} for a request the contract refuses${body.slice(0, 120)}` };
  if (c.expect === 'accept' && !ok) return { kind: 'rejected-valid', message: `${status} for a valid request${body}` };
  // RFC 9112 9.6: the server closes after a request that said close, and must not promise otherwise
  // (a keep-alive client that believes it sends its next request into a closed connection).
  if (/close/i.test(c.request.headers.connection ?? '') && /keep-alive/i.test(String(o.headers?.connection ?? ''))) {
    return { kind: 'bad-headers', message: `${status} with 'Connection: keep-alive' to a request that sent 'Connection: close'` };
  }
  if (head) return null;
  const type = String(o.headers?.['content-type'] ?? '');
  if (!ok) {
    const parsed = parseJson(o.body);
    if (!parsed.ok) return { kind: 'bad-envelope', message: `${status} with a non-JSON body (${type || 'no Content-Type'}):${body}` };
    const problem = envelopeProblem(parsed.value, c.flavor);
    return problem ? { kind: 'bad-envelope', message: `${status}: ${problem}:${body}` } : null;
  }
  if (o.events) {
    for (const data of o.events) {
      if (data === '[DONE]') continue;
      const frame = parseJson(Buffer.from(data));
      if (!frame.ok) return { kind: 'bad-stream', message: `a data frame is not JSON: ${data.slice(0, 200)}` };
      if (isObj(frame.value) && 'error' in frame.value) {
        const problem = envelopeProblem(frame.value, 'openai');
        if (problem) return { kind: 'bad-stream', message: `error frame: ${problem}: ${data.slice(0, 200)}` };
      }
    }
    if (o.aborted) return null;
    const last = o.events[o.events.length - 1];
    const lastIsError = last !== undefined && last !== '[DONE]' && /^\{"error"/.test(last);
    if (last !== '[DONE]' && !lastIsError) return { kind: 'bad-stream', message: `the stream ended without data: [DONE] or an error frame (last: ${String(last).slice(0, 120)})` };
    if (o.events.indexOf('[DONE]') !== -1 && o.events.indexOf('[DONE]') !== o.events.length - 1) return { kind: 'bad-stream', message: 'data after [DONE]' };
    return null;
  }
  if (c.route === 'unknown' || c.route === 'health' || c.route === 'models' || c.request.method === 'POST') {
    if (!/json/i.test(type)) return { kind: 'bad-body', message: `${status} with Content-Type '${type}' on a JSON route:${body}` };
    if (!parseJson(o.body).ok) return { kind: 'bad-body', message: `${status} with a body that is not JSON:${body}` };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Probes: a normal request to every route, which must still work

interface Probe {
  name: string;
  request: FuzzRequest;
  /** What a good answer's JSON (or, for streams, its events) must satisfy. */
  good: (json: unknown, events: string[] | undefined) => boolean;
}

const post = (path: string, body: object): FuzzRequest => ({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), encoding: 'utf8', chunked: false });
const get = (path: string): FuzzRequest => ({ method: 'GET', path, headers: {}, body: null, encoding: 'utf8', chunked: false });
const hasArray = (v: unknown, key: string) => isObj(v) && Array.isArray(v[key]) && (v[key] as unknown[]).length > 0;

export const PROBES: readonly Probe[] = [
  { name: 'chat', request: post('/v3/chat/completions', { model: 'tiny-chat', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }), good: (j) => hasArray(j, 'choices') },
  { name: 'chat stream', request: post('/v1/chat/completions', { model: 'tiny-chat', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, stream: true }), good: (_, e) => e?.[e.length - 1] === '[DONE]' },
  { name: 'completions', request: post('/v3/completions', { model: 'tiny-chat', prompt: 'hello', max_tokens: 4 }), good: (j) => hasArray(j, 'choices') },
  { name: 'embeddings', request: post('/v3/embeddings', { model: 'tiny-embed', input: 'hello' }), good: (j) => hasArray(j, 'data') },
  { name: 'rerank v1', request: post('/v1/rerank', { query: 'hello', documents: ['a', 'b'], return_documents: true }), good: (j) => hasArray(j, 'results') },
  { name: 'rerank v2', request: post('/v3/rerank', { model: 'tiny-rerank', query: 'hello', documents: ['a', 'b'] }), good: (j) => hasArray(j, 'results') },
  { name: 'models', request: get('/v3/models'), good: (j) => hasArray(j, 'data') },
  { name: 'health', request: get('/v2/health/ready'), good: (j) => isObj(j) && j.ready === true },
];

/** Runs every probe; the problems found, each naming its probe. */
export async function runProbes(target: Target, timeoutMs: number): Promise<Array<{ probe: string; outcome: Outcome; message: string }>> {
  const problems: Array<{ probe: string; outcome: Outcome; message: string }> = [];
  for (const probe of PROBES) {
    const outcome = await send(target, probe.request, { timeoutMs });
    if (outcome.kind !== 'response') problems.push({ probe: probe.name, outcome, message: outcome.error ?? outcome.kind });
    else {
      const json = parseJson(outcome.body);
      if (outcome.status !== 200 || !probe.good(json.ok ? json.value : undefined, outcome.events)) {
        problems.push({ probe: probe.name, outcome, message: `${outcome.status} ${snippet(outcome.body, 200)}` });
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Running many cases

export interface Failure {
  kind: FailureKind;
  message: string;
  /** The case, its body cut to FAILURE_BODY_CHARS (regenerate it whole from seed and index). */
  case: FuzzCase;
  /** The size of the body that was sent. */
  bodyBytes: number;
  status?: number;
  ms: number;
}

/** Cases made on demand (long runs would not fit in memory); `at` is undefined for a case left out. */
export interface CaseSource {
  count: number;
  at(index: number): FuzzCase | undefined;
}

const FAILURE_BODY_CHARS = 16_384;

/** A failure keeps a readable slice of its body, not 30 MB of it. */
function keepable(c: FuzzCase): { case: FuzzCase; bodyBytes: number } {
  const body = c.request.body;
  const bodyBytes = body === null ? 0 : Buffer.byteLength(body, c.request.encoding);
  if (body === null || body.length <= FAILURE_BODY_CHARS) return { case: c, bodyBytes };
  return { case: { ...c, request: { ...c.request, body: body.slice(0, FAILURE_BODY_CHARS) } }, bodyBytes };
}

export interface RouteStats {
  cases: number;
  failures: number;
  statuses: Record<string, number>;
}

export interface RunReport {
  seed: number | undefined;
  cases: number;
  failures: Failure[];
  routes: Record<RouteKind, RouteStats>;
  categories: Record<string, RouteStats>;
  probeRounds: number;
  /** Times the server stopped answering and was replaced (CLI child-process mode). */
  restarts: number;
  wallMs: number;
  /** Why the run stopped before its last case, if it did. */
  stoppedEarly?: string;
}

export interface RunOptions {
  concurrency?: number;
  /** The hang detector: a request with no complete answer by then is a failure (not a speed limit). */
  timeoutMs?: number;
  /** Probe every route after this many cases. */
  probeEvery?: number;
  onFailure?: (failure: Failure) => void;
  onProgress?: (done: number, total: number) => void;
  /** Replaces a server that stopped answering (child-process mode); without it the run stops there. */
  recover?: () => Promise<Target>;
}

/** Stands in for the case of a probe failure before any case ran. */
const PROBE_CASE: FuzzCase = { seed: 0, index: -1, route: 'health', category: 'get-route', mutation: 'probe', family: 'probe', tags: [], expect: 'accept', flavor: 'openai', request: PROBES[0]!.request };

const statusKey = (o: Outcome) => (o.kind === 'response' ? String(o.status) : o.kind);

const emptyStats = (): RouteStats => ({ cases: 0, failures: 0, statuses: {} });

/** A quick "is anybody there": the liveness route with a short bound. */
async function alive(target: Target): Promise<boolean> {
  const o = await send(target, get('/v2/health/live'), { timeoutMs: 3000 });
  return o.kind === 'response' && o.status === 200;
}

/**
 * Runs `cases` with `concurrency` clients, probing every route each `probeEvery` cases. A hang or a
 * crash that leaves the server unresponsive stops new cases; with `recover` the server is replaced
 * and each case that was in flight is re-sent alone on a fresh one, so the culprit is named and the
 * rest get their real answers. Without `recover` the run stops there.
 */
export async function runFuzz(initial: Target, input: readonly FuzzCase[] | CaseSource, options: RunOptions = {}): Promise<RunReport> {
  const source: CaseSource = Array.isArray(input) ? { count: input.length, at: (i) => input[i] } : (input as CaseSource);
  const total = source.count;
  const concurrency = options.concurrency ?? 8;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const probeEvery = options.probeEvery ?? 200;
  let target = initial;
  let agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const report: RunReport = {
    seed: undefined,
    cases: 0,
    failures: [],
    routes: Object.fromEntries(ROUTE_KINDS.map((r) => [r, emptyStats()])) as Record<RouteKind, RouteStats>,
    categories: {},
    probeRounds: 0,
    restarts: 0,
    wallMs: 0,
  };
  const started = performance.now();
  let lastCase: FuzzCase | undefined;
  const fail = (f: Failure) => {
    report.failures.push(f);
    options.onFailure?.(f);
  };
  const count = (stats: RouteStats, o: Outcome, failed: boolean) => {
    stats.cases++;
    if (failed) stats.failures++;
    stats.statuses[statusKey(o)] = (stats.statuses[statusKey(o)] ?? 0) + 1;
  };
  const record = (c: FuzzCase, outcome: Outcome, note = '') => {
    const problem = checkOutcome(c, outcome);
    report.cases++;
    count(report.routes[c.route], outcome, problem !== null);
    count((report.categories[c.category] ??= emptyStats()), outcome, problem !== null);
    if (problem) fail({ ...problem, message: `${problem.message}${note}`, ...keepable(c), status: outcome.status, ms: outcome.ms });
    options.onProgress?.(report.cases, total);
  };
  // A request that says `Connection: close` gets a connection of its own, so no later case inherits it.
  const sendCase = (c: FuzzCase, via: Agent | false) =>
    send(target, c.request, { timeoutMs, abortAfterEvents: c.abortAfterEvents, agent: /close/i.test(c.request.headers.connection ?? '') ? false : via });
  const replace = async () => {
    agent.destroy();
    target = await (options.recover as () => Promise<Target>)();
    agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    report.restarts++;
  };
  const probe = async (after: number): Promise<boolean> => {
    report.probeRounds++;
    const problems = await runProbes(target, timeoutMs);
    for (const p of problems) {
      const request = (PROBES.find((x) => x.name === p.probe) as Probe).request;
      const probeCase: FuzzCase = { ...(lastCase ?? PROBE_CASE), request, mutation: `probe ${p.probe} after case ${after}`, family: `probe ${p.probe}` };
      fail({ kind: 'probe', message: `after case ${after}: the ${p.probe} probe failed: ${p.message}`, ...keepable(probeCase), status: p.outcome.status, ms: p.outcome.ms });
    }
    if (!problems.some((p) => p.outcome.kind !== 'response')) return true;
    if (!options.recover) {
      report.stoppedEarly = `the server stopped answering (probes after case ${after})`;
      return false;
    }
    await replace();
    return true;
  };

  try {
    if (!(await probe(0))) return report;
    let next = 0;
    let probedAt = 0;
    while (next < total) {
      const until = Math.min(next + probeEvery, total);
      let down = false;
      const suspects: Array<{ c: FuzzCase; outcome: Outcome }> = [];
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (!down && next < until) {
            const c = source.at(next++);
            if (!c) continue;
            report.seed ??= c.seed;
            lastCase = c;
            const outcome = await sendCase(c, agent);
            if (outcome.kind === 'response') record(c, outcome);
            else {
              // A hang or a dropped connection: is the server still there?
              suspects.push({ c, outcome });
              if (!down && !(await alive(target))) down = true;
            }
          }
        }),
      );
      if (!down) {
        // The server answers others: these requests failed on their own.
        for (const { c, outcome } of suspects) record(c, outcome, ' (the server stayed responsive)');
        if (!(await probe(next))) return report;
        probedAt = next;
        continue;
      }
      if (!options.recover) {
        for (const { c, outcome } of suspects) record(c, outcome, ' (the server stopped answering; one of the requests in flight hung or killed it)');
        report.stoppedEarly = `the server stopped answering at case ${next}`;
        return report;
      }
      // Each suspect alone on a fresh server: one that hangs or kills it again is the culprit.
      await replace();
      for (const { c } of suspects) {
        const outcome = await sendCase(c, false);
        if (outcome.kind === 'response') {
          record(c, outcome);
          continue;
        }
        const dead = !(await alive(target));
        record(c, outcome, dead ? ' (sent alone to a fresh server, it takes the server down again)' : ' (fails again when sent alone to a fresh server)');
        if (dead) await replace();
      }
    }
    if (probedAt !== total) await probe(total);
    return report;
  } finally {
    agent.destroy();
    report.wallMs = performance.now() - started;
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

/** One request as sent: method, path, headers and the body (cut to `maxBody` chars, with its size). */
export function describeRequest(req: FuzzRequest, maxBody = 400, bodyBytes?: number): string {
  const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${v.length > 60 ? `${v.slice(0, 57)}...` : v}`);
  if (req.chunked) headers.push('transfer-encoding: chunked');
  const head = `${req.method} ${req.path.length > 100 ? `${req.path.slice(0, 97)}...` : req.path}${headers.length ? ` [${headers.join('; ')}]` : ''}`;
  if (req.body === null) return head;
  const bytes = bodyBytes ?? Buffer.byteLength(req.body, req.encoding);
  const shown = JSON.stringify(req.body.length > maxBody ? `${req.body.slice(0, maxBody)}...` : req.body);
  return `${head} body(${bytes} bytes${req.encoding === 'latin1' ? ', raw bytes' : ''}): ${shown}`;
}

export interface FailureGroup {
  signature: string;
  count: number;
  first: Failure;
}

/** What makes failures the same bug: kind, status, route and mutation family. */
export const signatureOf = (f: Failure) =>
  `${f.kind} ${f.status ?? '-'} ${f.case.route} ${f.kind === 'probe' ? f.message.replace(/after case \d+: /, '').slice(0, 60) : f.case.family}`;

/** Failures grouped by signature, each with its first case. */
export function groupFailures(failures: readonly Failure[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const f of failures) {
    const signature = signatureOf(f);
    const group = groups.get(signature);
    if (group) group.count++;
    else groups.set(signature, { signature, count: 1, first: f });
  }
  return [...groups.values()];
}

/** Readable lines, one per distinct failure, with what reproduces it. */
export function summarizeFailures(failures: readonly Failure[], limit = 25): string[] {
  const groups = groupFailures(failures);
  const lines = groups.slice(0, limit).map(({ signature, count, first }) => {
    const c = first.case;
    return `${signature} (x${count}); seed ${c.seed} case ${c.index} [${c.mutation.slice(0, 100)}]: ${first.message.slice(0, 300)} <- ${describeRequest(c.request, 240, first.bodyBytes)}`;
  });
  if (groups.length > limit) lines.push(`... and ${groups.length - limit} more distinct failures (${failures.length} in all)`);
  return lines;
}
