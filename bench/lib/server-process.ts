// Runs ovserve as a child process (as a user would: the JavaScript build `npm start` runs), so load
// generation does not share its event loop.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let built = false;

/** The CLI as `npm start` runs it: `npm run build` first (once per process; a no-op when up to date). */
export function builtCli(): string {
  if (!built) execFileSync('npm', ['run', '--silent', 'build'], { cwd: PROJECT_DIR, stdio: 'inherit' });
  built = true;
  return join(PROJECT_DIR, 'dist', 'wrangler-free-local', 'cli.js');
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startServerProcess(config: object, workDir: string, port: number): Promise<ServerProcess> {
  const configFile = join(workDir, 'bench-config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [builtCli(), '--config', configFile, '--port', String(port)], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ready = await fetch(`${url}/v2/health/ready`).then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    child,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Runs `worker` on `concurrency` loops until `total` calls are done; returns per-call ms and wall ms. */
export async function closedLoop(concurrency: number, total: number, worker: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await worker(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - started };
}
