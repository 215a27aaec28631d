// npm run fuzz -- --count 100000: the seeded fuzz suite at length (bigger bodies, deeper nesting) against
// a child-process server that is killed and replaced when a case hangs it; or --url, or --in-process.
// `--seed S --case I` replays one case and prints the exact request, a curl line and the answer.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPreset } from '../models/build.ts';
import { parseConfig } from '../runtime/index.ts';
import { generateCase, isExcluded, ROUTE_KINDS, type GenerateOptions, type Scale } from '../test/fuzz/cases.ts';
import { checkOutcome, describeRequest, groupFailures, loadRequestSchemas, runFuzz, send, summarizeFailures, type CaseSource, type Failure, type Target } from '../test/fuzz/run.ts';
import { serve } from '../wrangler-free-local/serve.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { builtCli } from './lib/server-process.ts';

const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SPECS_DIR = resolve(PROJECT_DIR, '..', 'shared', 'specs');
/** The fixtures the test suite serves (test/helpers/fixtures.ts), by model name. */
const FIXTURES = [
  { name: 'tiny-embed', task: 'embeddings', preset: 'tiny-bert-embed' },
  { name: 'tiny-rerank', task: 'rerank', preset: 'tiny-bert-rerank' },
  { name: 'tiny-chat', task: 'text-generation', preset: 'tiny-llama-chat' },
] as const;

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    /** First case index: replays a window of a long run (order and neighbours matter for some bugs). */
    from: { type: 'string', default: '0' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '8' },
    case: { type: 'string' },
    exclude: { type: 'string', default: '' },
    scale: { type: 'string', default: 'long' },
    'timeout-ms': { type: 'string', default: '20000' },
    'probe-every': { type: 'string', default: '200' },
    url: { type: 'string' },
    'in-process': { type: 'boolean', default: false },
  },
});

const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const count = Number(values.count);
const from = Number(values.from);
const concurrency = Number(values.concurrency);
const timeoutMs = Number(values['timeout-ms']);
const exclude = values.exclude.split(',').filter(Boolean);
if (values.scale !== 'quick' && values.scale !== 'long') throw new Error(`--scale must be quick or long, not "${values.scale}"`);
const scale: Scale = values.scale;
for (const [name, n] of Object.entries({ seed, count, from, concurrency, timeoutMs })) if (!Number.isFinite(n) || n < 0) throw new Error(`bad --${name}`);

/** A server to fuzz: where it listens, how to replace it after a hang, how to stop it, its log. */
interface Server {
  target: Target;
  replace?: () => Promise<Target>;
  stop(): Promise<void>;
  log: string[];
}

const freePort = () =>
  new Promise<number>((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });

function fixtureModels(dir: string) {
  return FIXTURES.map(({ name, task, preset }) => {
    const path = join(dir, name);
    buildPreset(preset, path);
    return { name, task, path };
  });
}

/** The real CLI in a child process, so a hung event loop can be killed and the run can go on. */
async function childServer(workDir: string): Promise<Server> {
  const configFile = join(workDir, 'fuzz-config.json');
  writeFileSync(configFile, JSON.stringify({ models: fixtureModels(join(workDir, 'models')) }, null, 2));
  const log: string[] = [];
  let child: ChildProcess | undefined;
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log.push(line.slice(0, 500));
    if (log.length > 2000) log.splice(0, log.length - 2000);
  };
  const start = async (): Promise<Target> => {
    const port = await freePort();
    child = spawn(process.execPath, [builtCli(), '--config', configFile, '--port', String(port), '--host', '127.0.0.1'], {
      cwd: PROJECT_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const target = { host: '127.0.0.1', port };
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${log.slice(-5).join(' | ')}`);
      const ready = await fetch(`http://127.0.0.1:${port}/v2/health/ready`).then((r) => r.status === 200, () => false);
      if (ready) return target;
      if (Date.now() > deadline) throw new Error('the server did not become ready in 120 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // SIGKILL: a process stuck in a synchronous loop never runs its SIGTERM handler.
  const kill = () =>
    new Promise<void>((done) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGKILL');
    });
  const target = await start();
  return {
    target,
    log,
    async replace() {
      log.push('--- fuzz: server replaced after it stopped answering ---');
      await kill();
      return start();
    },
    stop: kill,
  };
}

async function inProcessServer(workDir: string): Promise<Server> {
  const config = parseConfig({ models: fixtureModels(join(workDir, 'models')) }, workDir);
  const log: string[] = [];
  const running = await serve({ config, port: 0, host: '127.0.0.1', log: (line) => log.push(line) });
  await running.ready;
  return { target: { host: '127.0.0.1', port: running.port }, log, stop: () => running.close() };
}

function urlServer(url: string): Server {
  const u = new URL(url);
  return { target: { host: u.hostname, port: Number(u.port || 80) }, log: [], stop: async () => {} };
}

async function startServer(workDir: string): Promise<Server> {
  if (values.url) return urlServer(values.url);
  return values['in-process'] ? inProcessServer(workDir) : childServer(workDir);
}

const statusText = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');

/** Replays one case and prints everything needed to reproduce it by hand. */
async function replay(index: number, options: GenerateOptions, server: Server): Promise<boolean> {
  const c = generateCase(seed, index, options);
  console.log(`seed ${seed} case ${index}: ${c.route} / ${c.category} / ${c.mutation}`);
  console.log(`expects: ${c.expect}${c.abortAfterEvents ? `, client aborts after ${c.abortAfterEvents} SSE events` : ''}; envelope: ${c.flavor}; tags: ${c.tags.join(',') || '-'}`);
  console.log(`request: ${describeRequest(c.request, 2000)}`);
  if (c.request.body !== null) {
    const dir = join(PROJECT_DIR, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `fuzz-case-${seed}-${index}.body`);
    writeFileSync(file, Buffer.from(c.request.body, c.request.encoding));
    const headers = Object.entries(c.request.headers).map(([k, v]) => ` -H ${JSON.stringify(`${k}: ${v}`)}`);
    if (c.request.chunked) headers.push(' -H "Transfer-Encoding: chunked"');
    if (!c.request.headers['content-type']) headers.push(' -H "Content-Type:"');
    console.log(`body written to ${file}\ncurl -sS -X ${c.request.method} 'http://${server.target.host}:${server.target.port}${c.request.path}'${headers.join('')} --data-binary @${file}`);
  }
  const outcome = await send(server.target, c.request, { timeoutMs, abortAfterEvents: c.abortAfterEvents });
  console.log(`answer: ${outcome.kind} ${outcome.status ?? ''} in ${Math.round(outcome.ms)} ms ${outcome.error ?? ''}`);
  if (outcome.headers) console.log(`headers: ${JSON.stringify(outcome.headers)}`);
  if (outcome.events) console.log(`events (${outcome.events.length}${outcome.aborted ? ', aborted by the client' : ''}): ${outcome.events.slice(0, 8).join(' | ').slice(0, 2000)}`);
  else if (outcome.body) console.log(`body: ${outcome.body.subarray(0, 4000).toString('utf8')}`);
  const problem = checkOutcome(c, outcome);
  console.log(problem ? `FAIL ${problem.kind}: ${problem.message}` : 'ok');
  return problem === null;
}

const failureJson = (f: Failure) => ({
  kind: f.kind,
  message: f.message.slice(0, 2000),
  status: f.status ?? null,
  ms: Math.round(f.ms),
  seed: f.case.seed,
  case: f.case.index,
  route: f.case.route,
  category: f.case.category,
  mutation: f.case.mutation,
  expect: f.case.expect,
  request: { ...f.case.request, body: f.case.request.body === null ? null : f.case.request.body.slice(0, 4096), body_bytes: f.bodyBytes },
  replay: `npm run fuzz -- --seed ${f.case.seed} --case ${f.case.index}`,
});

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'ovserve-fuzz-'));
  const specs = loadRequestSchemas(SPECS_DIR);
  const options: GenerateOptions = { scale, specs, exclude };
  const server = await startServer(workDir);
  try {
    if (values.case !== undefined) {
      process.exitCode = (await replay(Number(values.case), options, server)) ? 0 : 1;
      return;
    }
    console.log(`fuzz: seed ${seed}, ${count} cases${from ? ` from case ${from}` : ''}, scale ${scale}, concurrency ${concurrency}, hang bound ${timeoutMs} ms${exclude.length ? `, excluding ${exclude.join(',')}` : ''}`);
    const t0 = performance.now();
    let skipped = 0;
    let generateMs = 0;
    // Made one at a time as the clients need them: a long run's bodies would not fit in memory.
    const source: CaseSource = {
      count,
      at(index) {
        const g0 = performance.now();
        const c = generateCase(seed, from + index, options);
        generateMs += performance.now() - g0;
        if (!isExcluded(c, exclude)) return c;
        skipped++;
        return undefined;
      },
    };
    let lastPrint = 0;
    const report = await runFuzz(server.target, source, {
      concurrency,
      timeoutMs,
      probeEvery: Number(values['probe-every']),
      recover: server.replace,
      onFailure: (f) => console.error(`  FAIL ${f.kind} ${f.status ?? ''} case ${f.case.index} ${f.case.route} [${f.case.mutation.slice(0, 80)}]: ${f.message.slice(0, 160)}`),
      onProgress: (done, total) => {
        if (done - lastPrint >= 1000 || done === total) {
          lastPrint = done;
          console.error(`  ${done}/${total} cases, ${Math.round((performance.now() - t0) / 1000)} s`);
        }
      },
    });

    const wallS = report.wallMs / 1000;
    const rows: Row[] = ROUTE_KINDS.map((route) => {
      const r = report.routes[route];
      return { route, cases: r.cases, failures: r.failures, statuses: statusText(r.statuses) };
    });
    rows.push({ route: 'all', cases: report.cases, failures: report.failures.length, statuses: `${wallS.toFixed(1)} s wall, ${Math.round(report.cases / wallS)} requests/s` });
    console.log('');
    printTable(rows);
    console.log('');
    printTable(Object.entries(report.categories).map(([category, r]) => ({ category, cases: r.cases, failures: r.failures, statuses: statusText(r.statuses) })));
    console.log(`\ncase generation ${Math.round(generateMs)} ms (inside the wall time); ${report.probeRounds} probe rounds; ${report.restarts} server restarts; ${skipped} cases excluded${report.stoppedEarly ? `; stopped early: ${report.stoppedEarly}` : ''}`);
    const lines = summarizeFailures(report.failures, 60);
    console.log(lines.length ? `\n${groupFailures(report.failures).length} distinct failures:\n${lines.map((l) => `- ${l}`).join('\n')}` : '\nno failures');

    const errors = [...new Set(server.log.filter((l) => /error|exception|unhandled/i.test(l)).map((l) => l.trim()))].slice(0, 40);
    const file = writeResults('fuzz', {
      seed,
      count,
      scale,
      concurrency,
      timeout_ms: timeoutMs,
      exclude,
      cases_run: report.cases,
      wall_ms: Math.round(report.wallMs),
      requests_per_s: Math.round(report.cases / wallS),
      generate_ms: Math.round(generateMs),
      probe_rounds: report.probeRounds,
      restarts: report.restarts,
      stopped_early: report.stoppedEarly ?? null,
      routes: report.routes,
      categories: report.categories,
      failures: report.failures.length,
      failure_groups: groupFailures(report.failures).map((g) => ({ signature: g.signature, count: g.count, first: failureJson(g.first) })),
      server_errors: errors,
    });
    console.log(`\nwrote ${file}`);
    process.exitCode = report.failures.length > 0 ? 1 : 0;
  } finally {
    await server.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

