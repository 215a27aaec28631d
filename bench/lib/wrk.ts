// Load through wrk (a C load generator) when it is installed: it costs the shared 2 cores far less
// CPU per request than a Node client, so the numbers describe the server rather than the client.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

/** A Lua script posting `bodies` round-robin (one JSON body per line of the list). */
export function writeWrkScript(dir: string, path: string, bodies: string[]): string {
  const file = join(dir, 'wrk-post.lua');
  const list = bodies.map((b) => `[==[${b}]==]`).join(',\n');
  writeFileSync(
    file,
    `local bodies = {\n${list}\n}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format("POST", "${path}", {["Content-Type"]="application/json"}, bodies[(i % #bodies) + 1])\nend\n`,
  );
  return file;
}

const toMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? NaN);

export function runWrk(url: string, script: string, connections: number, seconds: number) {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, url], { encoding: 'utf8' });
  const latency = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    return m ? toMs(m[1] as string, m[2] as string) : NaN;
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  if (errors) throw new Error(`wrk saw ${errors[1]} error responses`);
  return { requestsPerSec: Number(rps?.[1]), p50: latency('50'), p99: latency('99') };
}
