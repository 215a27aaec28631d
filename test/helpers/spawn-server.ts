// Runs `npm start` as a real child process on a free port, and follows its output, exit and process tree.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { PROJECT_DIR } from './paths.ts';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnedServer {
  /** The npm process itself: signals go here, as a supervisor would send them. */
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  exited: Promise<Exit>;
}

/** A port that was free a moment ago (the OS picks it, then it is released for the child). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns something other than undefined/false; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Leads its own process group, so a signal can go to the group as a terminal's Ctrl-C does. */
  processGroup?: boolean;
}

/** `npm start -- --port <free> --config <configFile>` from the project folder. */
export async function spawnNpmStart(configFile: string, options: SpawnOptions = {}): Promise<SpawnedServer> {
  const port = await freePort();
  const child = spawn('npm', ['start', '--', '--port', String(port), '--config', configFile], {
    cwd: PROJECT_DIR,
    env: { ...process.env, ...options.env },
    detached: options.processGroup ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, port, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/** Waits until /v2/health/ready answers 200, failing early (with the output) if the process exits. */
export async function waitUntilReady(server: SpawnedServer, timeoutMs = 45_000): Promise<void> {
  await waitFor(
    'the server to be ready',
    async () => {
      if (server.child.exitCode !== null || server.child.signalCode !== null) {
        throw new Error(`npm start exited early:\n${server.output()}`);
      }
      try {
        return (await fetch(`${server.url}/v2/health/ready`)).status === 200;
      } catch {
        return false; // not listening yet
      }
    },
    timeoutMs,
  );
}

/** Every process below `pid` (Linux /proc), children first. */
export function descendants(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // Fields after the parenthesised command name: state, ppid, ...
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Running or sleeping; a zombie (exited, not yet reaped by whoever adopted it) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** For cleanup after a failed test: kills the processes this test started, by id. */
export function killTree(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
