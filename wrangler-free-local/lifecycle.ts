// Listening and graceful shutdown for a composed app: one place for ports, signals and draining.
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import type { Runtime } from '../runtime/index.ts';

export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  url: string;
  server: ServerType;
  /** Stops accepting connections, lets requests in flight finish, frees the models. */
  close(): Promise<void>;
}

export function listen(app: Hono, runtime: Runtime, port: number, host: string): Promise<RunningServer> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: host }, (info: AddressInfo) => {
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${info.port}`;
      resolve({
        port: info.port,
        url,
        server,
        async close() {
          const closed = new Promise<void>((done) => server.close(() => done()));
          await runtime.close();
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          await closed;
        },
      });
    });
  });
}

/** SIGINT/SIGTERM drain the server once; a second signal exits at once. */
export function closeOnSignals(running: RunningServer, log: (line: string) => void): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal}: draining`);
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
