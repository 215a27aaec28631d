// Listening and graceful shutdown for a composed app: one place for ports, timeouts, signals and draining.
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Runtime } from '../runtime/index.ts';

/** How long a drain waits for requests in flight before it destroys every connection. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/** setTimeout fires at once above this (with a warning), so longer drains are clamped to it. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * After the drain timeout the destroyed connections abort their generations; the models get this
 * long to be freed before close() resolves anyway (process exit frees them in any case).
 */
const DISPOSE_GRACE_MS = 5_000;

/**
 * Slowloris defaults. Real clients send their headers in milliseconds, so 30 s (node: 60 s) only
 * bounds how long a connection may dribble them. The whole request, body included, gets 300 s
 * (node's default, kept explicit): large tensor or image uploads over slow links must still fit,
 * and it does not limit how long a response (an SSE stream) may take. Node checks both on an
 * interval (default 30 s); 5 s makes the bounds close to what they say at negligible cost.
 */
const SERVER_OPTIONS: ServerOptions = {
  headersTimeout: 30_000,
  requestTimeout: 300_000,
  connectionsCheckingInterval: 5_000,
  // Node's 5 s idle keep-alive races clients that reuse a socket just as the server drops it
  // (ECONNRESET on a request that never arrived); clients honour the `Keep-Alive: timeout=20`
  // hint. Kept under headersTimeout, as node asks.
  keepAliveTimeout: 20_000,
};

export interface CloseOptions {
  /** How long to wait for requests in flight before destroying every connection (default 30 s). */
  timeoutMs?: number;
  /** Told when the timeout cuts connections. */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** The port actually bound (useful with port 0); every host listens on it. */
  port: number;
  /** The first host's URL, and every host's; the hosts actually listened on (an optional one may be missing). */
  url: string;
  urls: string[];
  hosts: string[];
  /** The first host's server, and every host's (one node server per address). */
  server: ServerType;
  servers: ServerType[];
  /**
   * Drains: new model requests get 503 (the listener and open connections keep answering, with
   * `Connection: close`), requests in flight finish, then the listener closes, the idle
   * connections are closed and the models freed. After `timeoutMs` every remaining connection is
   * destroyed. Calling it again returns the same drain.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface ListenOptions {
  /** Hosts that may be missing (the default's ::1 on a machine without IPv6): skipped with a log line. */
  optional?: readonly string[];
  log?: (line: string) => void;
}

const urlOf = (host: string, port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

/** Binds one server: resolves once it listens, rejects with the bind error. */
function bind(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Listens on every host (the first decides the port when `port` is 0), one node server each,
 * all serving `app` and drained together.
 */
export async function listen(app: Hono, runtime: Runtime, port: number, hosts: string | readonly string[], options: ListenOptions = {}): Promise<RunningServer> {
  const wanted = typeof hosts === 'string' ? [hosts] : hosts;
  const servers: Server[] = [];
  const bound: string[] = [];
  let chosen = port;
  for (const host of wanted) {
    // No createServer option is given, so @hono/node-server makes a plain node http.Server.
    const server = createAdaptorServer({ fetch: app.fetch, hostname: host, serverOptions: SERVER_OPTIONS }) as Server;
    try {
      chosen = await bind(server, chosen, host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (options.optional?.includes(host) && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) {
        options.log?.(`not listening on ${host}: ${code} (no such address here)`);
        continue;
      }
      await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
      throw err;
    }
    servers.push(server);
    bound.push(host);
  }
  if (servers.length === 0) throw new Error(`could not listen on any of ${wanted.join(', ')}`);
  const drainer = createDrainer(servers, runtime);
  let drain: Promise<void> | undefined;
  return {
    port: chosen,
    url: urlOf(bound[0] as string, chosen),
    urls: bound.map((h) => urlOf(h, chosen)),
    hosts: bound,
    server: servers[0] as Server,
    servers,
    close: (closeOptions = {}) =>
      (drain ??= drainer.drain(Math.min(closeOptions.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS, MAX_TIMER_MS), closeOptions.log ?? (() => {}))),
  };
}

interface Drainer {
  drain(timeoutMs: number, log: (line: string) => void): Promise<void>;
}

/** Counts the HTTP requests in flight and runs the drain over the servers and the runtime. */
function createDrainer(servers: readonly Server[], runtime: Runtime): Drainer {
  let draining = false;
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];

  // Prepended so the header is in place before the app's listener can write the response.
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    if (draining) res.setHeader('Connection', 'close');
    const socket = req.socket;
    res.once('close', () => {
      inFlight--;
      if (!draining) return;
      // A response begun before the drain may have promised keep-alive (SSE streams say so
      // explicitly); ending the socket once it is sent keeps the connection from idling on.
      if (!socket.destroyed) socket.end();
      if (inFlight === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const done of waiters) done();
      }
    });
  };
  for (const server of servers) server.prependListener('request', onRequest);

  const requestsDone = () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((done) => idleWaiters.push(done)));

  // server.close() stops listening and closes idle connections; it calls back once every
  // connection has ended (with an error when it was not listening, which changes nothing here).
  let listenerClosed: Promise<void> | undefined;
  const closeListener = () => (listenerClosed ??= Promise.all(servers.map((server) => new Promise<void>((done) => server.close(() => done())))).then(() => {}));

  return {
    async drain(timeoutMs, log) {
      draining = true;
      let failure: { err: unknown } | undefined;
      // From here every new model request is refused with not_ready, which routes answer as 503.
      const runtimeClosed = runtime.close().catch((err: unknown) => {
        failure = { err };
      });
      const drained = runtimeClosed.then(requestsDone).then(closeListener);
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<true>((done) => (deadline = setTimeout(done, timeoutMs, true)));
      if (await Promise.race([drained.then(() => false), timedOut])) {
        log(`drain timeout after ${timeoutMs / 1000} s: closing ${inFlight} request(s) in flight and every open connection`);
        const closed = closeListener();
        for (const server of servers) server.closeAllConnections();
        await Promise.race([Promise.all([runtimeClosed, closed]), delay(DISPOSE_GRACE_MS)]);
      }
      clearTimeout(deadline);
      if (failure) throw failure.err;
    },
  };
}

/** A pause that does not keep the process alive by itself. */
function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

export interface SignalOptions {
  /** How long a drain may take before connections are destroyed (default 30 s). */
  drainTimeoutMs?: number;
}

/**
 * A repeat this soon after the first signal is that signal delivered twice, not a second request:
 * a terminal's Ctrl-C reaches npm and node alike and npm forwards its copy too, and systemd
 * signals every process of the unit.
 */
export const REPEAT_WINDOW_MS = 1_000;

/** SIGINT/SIGTERM drain the server once and exit 0; a later second signal exits at once with 1. */
export function closeOnSignals(running: RunningServer, log: (line: string) => void, options: SignalOptions = {}): void {
  const timeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  let firstAt: number | undefined;
  const stop = (signal: string) => {
    if (firstAt !== undefined) {
      if (performance.now() - firstAt < REPEAT_WINDOW_MS) {
        log(`${signal} again within ${REPEAT_WINDOW_MS / 1000} s: taken as the same request; still draining`);
        return;
      }
      log(`${signal} again: exiting without draining`);
      process.exit(1);
    }
    firstAt = performance.now();
    log(`${signal}: draining (at most ${timeoutMs / 1000} s); another signal from ${REPEAT_WINDOW_MS / 1000} s on exits at once`);
    running.close({ timeoutMs, log }).then(
      () => {
        log('drained; exiting');
        process.exit(0);
      },
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
