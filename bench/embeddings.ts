// npm run bench:embeddings — single-text embedding requests through HTTP at concurrency 1/4/16,
// fp32 and `quantize: "int8"`, against raw onnxruntime-node fp32 at its best batch size, in one run.
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { buildPreset, isBuilt } from '../models/build.ts';
import { closedLoop, startServerProcess } from './lib/server-process.ts';
import { createJsonPoster } from './lib/http-client.ts';
import { runWrk, wrkAvailable, writeWrkScript } from './lib/wrk.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { round, summarize } from './lib/stats.ts';
import { COMMON_WORDS } from '../models/builder/words.ts';
import { createTokenizer } from '../runtime/tokenizer.ts';
import { readFileSync } from 'node:fs';

const MODEL_DIR = join(process.cwd(), 'models', '.built', 'bench', 'minilm-l6-embed');
const TOKENS = 16;
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CLIENT = process.env.BENCH_CLIENT ?? (wrkAvailable() ? 'wrk' : 'node');
const PORT = Number(process.env.BENCH_PORT ?? 8391);

/** Text i: 14 vocabulary words, which with [CLS] and [SEP] make 16 tokens. */
function text(i: number): string {
  return Array.from({ length: TOKENS - 2 }, (_, k) => COMMON_WORDS[(i * 7 + k * 13) % COMMON_WORDS.length]).join(' ');
}

async function rawCeiling(batchSizes: number[]) {
  const tokenizer = createTokenizer(JSON.parse(readFileSync(join(MODEL_DIR, 'tokenizer.json'), 'utf8')), {});
  const session = await ort.InferenceSession.create(join(MODEL_DIR, 'onnx', 'model.onnx'), { graphOptimizationLevel: 'all', interOpNumThreads: 1 });
  const rows: Array<{ batch: number; textsPerSec: number }> = [];
  for (const batch of batchSizes) {
    const ids = Array.from({ length: batch }, (_, i) => tokenizer.encodeSingle(text(i), 512).ids).flat();
    const t = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [batch, TOKENS]);
    const feeds = { input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(ids.map(() => 0)) };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    const runs = Math.max(5, Math.ceil(REQUESTS / batch));
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await session.run(feeds);
    rows.push({ batch, textsPerSec: (runs * batch * 1000) / (performance.now() - t0) });
  }
  await session.release();
  return rows;
}

/** One server per format; rows at concurrency 1, 4 and 16. */
async function throughHttp(workDir: string, quantize: 'none' | 'int8'): Promise<Row[]> {
  const server = await startServerProcess({ models: [{ name: 'minilm', task: 'embeddings', path: MODEL_DIR, quantize }] }, workDir, PORT);
  const path = `HTTP /v3/embeddings, ${quantize === 'none' ? 'fp32' : 'int8'}`;
  // base64, as the openai client asks for by default.
  const body = (i: number) => ({ model: 'minilm', input: text(i), encoding_format: 'base64' });
  const http: Row[] = [];
  try {
    if (CLIENT === 'wrk') {
      const script = writeWrkScript(workDir, '/v3/embeddings', Array.from({ length: 997 }, (_, i) => JSON.stringify(body(i))));
      runWrk(server.url, script, 16, 2); // warm-up
      for (const concurrency of [1, 4, 16]) {
        const r = runWrk(server.url, script, concurrency, SECONDS);
        http.push({ path, concurrency, 'texts/s': round(r.requestsPerSec), 'p50 ms': round(r.p50, 2), 'p99 ms': round(r.p99, 2) });
      }
    } else {
      const post = createJsonPoster(server.url, 16);
      const embed = async (i: number) => {
        const res = await post('/v3/embeddings', body(i));
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString()}`);
      };
      await closedLoop(4, 200, embed); // warm-up
      for (const concurrency of [1, 4, 16]) {
        const { latencies, wallMs } = await closedLoop(concurrency, REQUESTS, embed);
        const s = summarize(latencies);
        http.push({ path, concurrency, 'texts/s': round((REQUESTS * 1000) / wallMs), 'p50 ms': round(s.p50, 2), 'p99 ms': round(s.p99, 2) });
      }
    }
  } finally {
    await server.stop();
  }
  return http;
}

async function main() {
  if (!isBuilt(MODEL_DIR)) {
    console.log('building all-MiniLM-L6-v2-shaped fixture…');
    buildPreset('minilm-l6-embed', MODEL_DIR);
  }
  const workDir = join(process.cwd(), 'models', '.built', 'bench');
  const http: Row[] = [];
  for (const quantize of ['none', 'int8'] as const) http.push(...(await throughHttp(workDir, quantize)));
  const raw = await rawCeiling([1, 4, 8, 16, 32, 64]);
  const best = raw.reduce((a, b) => (b.textsPerSec > a.textsPerSec ? b : a));
  const rows: Row[] = [
    ...http,
    ...raw.map((r) => ({ path: `raw onnxruntime batch ${r.batch}`, concurrency: '-', 'texts/s': round(r.textsPerSec), 'p50 ms': '-', 'p99 ms': '-' })),
  ];
  printTable(rows);
  const at = (format: string, c: number) => http.find((r) => String(r.path).endsWith(format) && r.concurrency === c)!['texts/s'] as number;
  const c1 = at('fp32', 1);
  const c16 = at('fp32', 16);
  const ratios = {
    c16_int8_vs_raw_fp32_best_batch: round(at('int8', 16) / best.textsPerSec, 3),
    c16_vs_raw_best_batch: round(c16 / best.textsPerSec, 3),
    c16_vs_raw_batch_16: round(c16 / (raw.find((r) => r.batch === 16)?.textsPerSec ?? NaN), 3),
    c16_vs_c1: round(c16 / c1, 2),
    raw_best_batch: best.batch,
  };
  console.log(`\nload generator: ${CLIENT} (same machine)`);
  console.log(`concurrency 16 / raw best batch (${best.batch}): ${ratios.c16_vs_raw_best_batch} (goal >= 0.85)`);
  console.log(`concurrency 16 / concurrency 1: ${ratios.c16_vs_c1} (goal >= 2)`);
  console.log(`int8 concurrency 16 / raw fp32 best batch: ${ratios.c16_int8_vs_raw_fp32_best_batch} (goal >= 1.2)`);
  const file = writeResults('embeddings', { model: 'all-MiniLM-L6-v2 shape, random weights', tokens_per_text: TOKENS, load_generator: CLIENT, rows, ratios });
  console.log(`wrote ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
