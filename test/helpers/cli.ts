// Runs the real `ovserve` executable (wrangler-free-local/bin.mjs) as a child process and collects its output.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_DIR } from './paths.ts';

export const BIN = join(PROJECT_DIR, 'wrangler-free-local', 'bin.mjs');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node bin.mjs ...args`, without the caller's HF_TOKEN / HF_ENDPOINT unless `env` sets them.
 * Asynchronous on purpose: a fake hub in the test process must keep answering while it runs.
 */
export function runCli(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.HF_TOKEN;
  delete env.HF_ENDPOINT;
  Object.assign(env, options.env);
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? PROJECT_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
