// Starts a worker thread or a child process from a module beside the caller; a .ts source (run
// through tsx) gets tsx registered inside it first.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `name` without extension, resolved against `base` (the caller's import.meta.url). */
export function spawnModuleWorker(base: string, name: string, options: WorkerOptions = {}): Worker {
  const file = new URL(`${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
  if (!file.href.endsWith('.ts')) return new Worker(file, options);
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(file.href)}, ${JSON.stringify(file.href)}))`;
  return new Worker(code, { ...options, eval: true });
}

/** A child process (with an IPC channel) running `name` beside `base`. */
export function forkModule(base: string, name: string): ChildProcess {
  const file = new URL(`${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
  const execArgv = file.href.endsWith('.ts') ? ['--import', import.meta.resolve('tsx/esm')] : [];
  return fork(fileURLToPath(file), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
