// Shutdown of a real `npm start` process: SIGTERM/SIGINT drain it, slow clients cannot hold it, no process is left.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath } from '../helpers/fixtures.ts';
import {
  commandLine,
  descendants,
  isAlive,
  killTree,
  spawnNpmStart,
  waitFor,
  waitUntilReady,
  type SpawnedServer,
  type SpawnOptions,
} from '../helpers/spawn-server.ts';
import { REPEAT_WINDOW_MS } from '../../wrangler-free-local/lifecycle.ts';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

/** Sends one request and reads the whole reply. */
function send(url: string, options: http.RequestOptions, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, reusedSocket: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'Content-Type': 'application/json' };
const STREAM = JSON.stringify({ model: 'tiny-chat', prompt: 'hi', max_tokens: 400, ignore_eos: true, stream: true });
const SMALL = JSON.stringify({ model: 'tiny-chat', prompt: 'hi', max_tokens: 1 });

function expectOpenAiError(reply: Reply): void {
  const body = JSON.parse(reply.body) as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error.message).toEqual(expect.any(String));
}

/**
 * A request in flight whose body the client holds back (the server's `100 Continue` proves it has
 * the headers): a drain must wait for it, so it keeps a drain open until released.
 */
async function holdRequest(url: string, body: string): Promise<{ release(): Promise<Reply>; abandon(): void }> {
  const req = http.request(url, {
    method: 'POST',
    agent: false,
    headers: { ...json, 'Content-Length': Buffer.byteLength(body), Expect: '100-continue' },
  });
  const reply = new Promise<Reply>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, reusedSocket: false }));
    });
  });
  reply.catch(() => {}); // an abandoned request's reset is expected
  req.flushHeaders();
  await once(req, 'continue');
  return {
    release: () => {
      req.end(body);
      return reply;
    },
    abandon: () => req.destroy(),
  };
}

/** Data frames of an SSE body, parsed, and whether it ended with [DONE]. */
function sseFrames(raw: string): { frames: Array<{ choices: Array<{ finish_reason: string | null }> }>; done: boolean } {
  const data = raw
    .split('\n\n')
    .map((event) => event.trim())
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
  const done = data.at(-1) === '[DONE]';
  return { frames: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)), done };
}

describe('shutdown of npm start', () => {
  let dir: string;
  let configFile: string;
  let running: SpawnedServer | undefined;
  /** The processes under npm once it was ready. */
  let started: Array<{ pid: number; command: string }> = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ovserve-shutdown-'));
    configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ models: [{ name: 'tiny-chat', task: 'text-generation', path: fixturePath('tiny-chat') }] }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    // Only after a failure is anything left: kill what this test started, by id, while the id
    // still names the same command (an exited process's id may be reused).
    if (running) {
      const npmAlive = running.child.exitCode === null && running.child.signalCode === null;
      const mine = [...(npmAlive ? [running.child.pid!, ...descendants(running.child.pid!)] : []), ...started.map(({ pid }) => pid)];
      const commands = new Map(started.map(({ pid, command }) => [pid, command]));
      killTree([...new Set(mine)].filter((pid) => !commands.has(pid) || commandLine(pid) === commands.get(pid)));
    }
    running = undefined;
    started = [];
  });

  async function start(options: SpawnOptions = {}): Promise<{ server: SpawnedServer; serverPid: number }> {
    running = await spawnNpmStart(configFile, options);
    await waitUntilReady(running);
    started = descendants(running.child.pid!).map((pid) => ({ pid, command: commandLine(pid) }));
    const serverPid = started.find(({ command }) => command.includes('dist/wrangler-free-local/cli.js'))?.pid;
    expect(serverPid, `no server process under npm (${started.map(({ command }) => command).join('; ')})`).toBeDefined();
    return { server: running, serverPid: serverPid! };
  }

  /** After exit: the server and everything it started are gone, and nothing listens on the port. */
  async function expectNothingLeft(server: SpawnedServer, serverPid: number): Promise<void> {
    expect(isAlive(serverPid)).toBe(false);
    // tsx's esbuild helpers notice their parent is gone on their own; give them a moment.
    await waitFor('every process under npm to exit', () => started.every(({ pid }) => !isAlive(pid)), 15_000);
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  }

  it('SIGTERM drains: the stream finishes, a reused connection gets 503, npm exits 0, nothing is left', async () => {
    const { server, serverPid } = await start();

    // A keep-alive connection opened before the signal.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await send(`${server.url}/v3/models`, { agent: keepAlive })).status).toBe(200);

    // Holds the drain open, whatever the machine's speed, until this test releases it.
    const held = await holdRequest(`${server.url}/v3/completions`, SMALL);

    // A long stream, signalled once its first data frame is here.
    let raw = '';
    let firstFrame!: () => void;
    const gotFirstFrame = new Promise<void>((resolve) => (firstFrame = resolve));
    const streamed = new Promise<{ status: number; raw: string }>((resolve, reject) => {
      const req = http.request(`${server.url}/v3/completions`, { method: 'POST', headers: json, agent: new http.Agent({ keepAlive: true }) }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          raw += chunk;
          if (raw.includes('data: {')) firstFrame();
        });
        res.on('end', () => resolve({ status: res.statusCode!, raw }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(STREAM);
    });
    await Promise.race([gotFirstFrame, streamed]); // a stream that fails early fails below
    server.child.kill('SIGTERM');

    // Draining: readiness turns 503 (asked on fresh connections, so the kept one stays unused).
    await waitFor('readiness to report 503', async () => (await send(`${server.url}/v2/health/ready`, { agent: false })).status === 503);

    const refused = await send(`${server.url}/v3/completions`, { method: 'POST', agent: keepAlive, headers: json }, SMALL);
    expect(refused.reusedSocket).toBe(true);
    expect(refused.status).toBe(503);
    expect(refused.headers.connection).toBe('close');
    expectOpenAiError(refused);

    const { status, raw: body } = await streamed;
    expect(status).toBe(200);
    const stream = sseFrames(body);
    expect(stream.done).toBe(true);
    expect(stream.frames.at(-1)!.choices[0]!.finish_reason).toBe('length');

    // The held request reaches the runtime after it closed: 503 too, and the connection closes.
    const late = await held.release();
    expect(late.status).toBe(503);
    expect(late.headers.connection).toBe('close');
    expectOpenAiError(late);

    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('SIGTERM: draining');
    await expectNothingLeft(server, serverPid);
    keepAlive.destroy();
  });

  it('a client stuck in its headers is cut after OVSERVE_DRAIN_TIMEOUT_S and the process exits 0', async () => {
    const { server, serverPid } = await start({ env: { OVSERVE_DRAIN_TIMEOUT_S: '1' } });

    const slow: Socket = connect(server.port, '127.0.0.1');
    const closedByServer = once(slow, 'close');
    slow.on('error', () => {}); // a reset is one way for the server to close it
    // One whole request first, so the connection is surely accepted; then half a request.
    let answer = '';
    slow.setEncoding('utf8');
    slow.on('data', (chunk: string) => (answer += chunk));
    const host = `Host: 127.0.0.1:${server.port}\r\n`;
    slow.write(`GET /v2/health/live HTTP/1.1\r\n${host}\r\n`);
    await waitFor('the first answer', () => answer.includes('"live":true'));
    slow.write(`POST /v3/completions HTTP/1.1\r\n${host}`);

    server.child.kill('SIGTERM');
    await closedByServer;
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('drain timeout');
    await expectNothingLeft(server, serverPid);
  });

  it('a second signal during a drain exits at once', async () => {
    const { server, serverPid } = await start();

    // Holds the drain open (for the default 30 s).
    const held = await holdRequest(`${server.url}/v3/completions`, SMALL);

    server.child.kill('SIGINT');
    await waitFor('the drain to begin', () => server.output().includes('SIGINT: draining'));
    // A repeat within the window counts as the same signal delivered twice; wait it out (the
    // server's window began before it wrote the line just seen).
    await new Promise((resolve) => setTimeout(resolve, REPEAT_WINDOW_MS + 100));
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 1, signal: null });
    held.abandon();
    await expectNothingLeft(server, serverPid);
  });

  it('Ctrl-C (SIGINT to the whole process group: npm forwards a second copy) still drains and exits 0', async () => {
    const { server, serverPid } = await start({ processGroup: true });
    process.kill(-server.child.pid!, 'SIGINT');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('SIGINT: draining');
    expect(server.output()).toContain('drained; exiting');
    await expectNothingLeft(server, serverPid);
  });

  it('refuses an invalid OVSERVE_DRAIN_TIMEOUT_S with a clear message', async () => {
    running = await spawnNpmStart(configFile, { env: { OVSERVE_DRAIN_TIMEOUT_S: 'soon' } });
    expect((await running.exited).code).toBe(1);
    expect(running.output()).toContain('invalid OVSERVE_DRAIN_TIMEOUT_S "soon"');
  });
});
