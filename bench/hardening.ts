// npm run bench:hardening — how much a running stream stalls while large bodies arrive: the gaps
// between one stream's chunks with the server otherwise idle, and while 10 MB chat prompts,
// completions prompts, embeddings inputs and rerank document lists are answered, in one run.
import { request } from 'node:http';
import { join } from 'node:path';
import { buildPreset, isBuilt } from '../models/build.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { startServerProcess } from './lib/server-process.ts';
import { round, summarize } from './lib/stats.ts';

const WORK_DIR = join(process.cwd(), 'models', '.built', 'bench');
const PORT = Number(process.env.BENCH_PORT ?? 8393);
const MB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_BODY_MB ?? 10) * MB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const text = (bytes: number) => 'the quick brown fox jumps over the lazy dog '.repeat(Math.ceil(bytes / 44)).slice(0, bytes);

/** Bodies are serialised before measuring, so the load generator's own JSON work is not in the gaps. */
const BODIES: Array<[string, string, Buffer]> = [
  ['chat, one 10 MB message', '/v3/chat/completions', Buffer.from(JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: text(SIZE) }] }))],
  ['completions, 10 MB prompt', '/v3/completions', Buffer.from(JSON.stringify({ model: 'chat', prompt: text(SIZE) }))],
  ['embeddings, one 10 MB input', '/v3/embeddings', Buffer.from(JSON.stringify({ model: 'embed', input: text(SIZE) }))],
  ['embeddings, 1,000 inputs of 10 KB', '/v3/embeddings', Buffer.from(JSON.stringify({ model: 'embed', input: Array.from({ length: 1000 }, () => text(SIZE / 1000)) }))],
  ['rerank, 2,000 documents of 5 KB', '/v3/rerank', Buffer.from(JSON.stringify({ model: 'rerank', query: 'fox', documents: Array.from({ length: 2000 }, () => text(SIZE / 2000)) }))],
];

function post(url: URL, path: string, payload: Buffer): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** One stream of 1,000 tokens; `gaps` gets the time between consecutive chunks, tagged by the phase it fell in. */
function stream(url: URL, phase: () => string, gaps: Map<string, number[]>): Promise<void> {
  const payload = Buffer.from(JSON.stringify({ model: 'chat', prompt: 'hi', max_tokens: 1000, ignore_eos: true, stream: true }));
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/v3/completions', method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length } }, (res) => {
      let last = 0;
      res.on('data', () => {
        const now = performance.now();
        if (last > 0) {
          const list = gaps.get(phase()) ?? [];
          list.push(now - last);
          gaps.set(phase(), list);
        }
        last = now;
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function main() {
  for (const [folder, preset] of [['tiny-chat', 'tiny-llama-chat'], ['tiny-embed', 'tiny-bert-embed'], ['tiny-rerank', 'tiny-bert-rerank']] as const) {
    if (!isBuilt(join(WORK_DIR, folder))) buildPreset(preset, join(WORK_DIR, folder));
  }
  const server = await startServerProcess(
    {
      models: [
        { name: 'chat', task: 'text-generation', path: join(WORK_DIR, 'tiny-chat') },
        { name: 'embed', task: 'embeddings', path: join(WORK_DIR, 'tiny-embed') },
        { name: 'rerank', task: 'rerank', path: join(WORK_DIR, 'tiny-rerank') },
      ],
    },
    WORK_DIR,
    PORT,
  );
  const url = new URL(server.url);
  const gaps = new Map<string, number[]>();
  let phase = 'idle';
  let measuring = true;
  const rows: Row[] = [];
  try {
    // Streams back to back for the whole run (the gap between two streams is not counted).
    const running = (async () => {
      while (measuring) await stream(url, () => phase, gaps);
    })();
    await new Promise((r) => setTimeout(r, 2000));
    for (const [name, path, payload] of BODIES) {
      const latencies: number[] = [];
      let status = 0;
      for (let i = 0; i < ROUNDS; i++) {
        phase = name;
        const answer = await post(url, path, payload);
        phase = 'between requests';
        latencies.push(answer.ms);
        status = answer.status;
        await new Promise((r) => setTimeout(r, 300));
      }
      const during = summarize(gaps.get(name) ?? []);
      const duringMax = Math.max(...(gaps.get(name) ?? [0]));
      rows.push({ load: name, status, 'answer ms p50': round(summarize(latencies).p50), 'stream gap p50 ms': round(during.p50, 2), 'stream gap max ms': round(duringMax, 1) });
    }
    for (const [phaseName, label] of [['between requests', 'none (the 300 ms after each answer: its garbage collected)'], ['idle', 'none (before any large body)']] as const) {
      const list = gaps.get(phaseName) ?? [];
      rows.unshift({ load: label, status: 200, 'answer ms p50': '-', 'stream gap p50 ms': round(summarize(list).p50, 2), 'stream gap max ms': round(Math.max(...list), 1) });
    }
    measuring = false;
    await running;
  } finally {
    await server.stop();
  }
  printTable(rows);
  console.log(`\nresults: ${writeResults('hardening', { body_bytes: SIZE, rounds: ROUNDS, rows })}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
