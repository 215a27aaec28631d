// npm run bench:generate — streamed completions (128 prompt tokens, 128 output tokens, ignore_eos)
// through HTTP at concurrency 1/2/4/8/16 on a SmolLM2-135M-shaped fixture, against, in the same
// run: a raw onnxruntime-node greedy loop (one sequence, and a static batch of 8) and
// @huggingface/transformers generate() serving the same requests one after another.
import { AutoModelForCausalLM, env, Tensor as HfTensor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { buildPreset, isBuilt } from '../models/build.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { createStreamPoster, type StreamTiming } from './lib/sse-client.ts';
import { closedLoop, startServerProcess } from './lib/server-process.ts';
import { round, summarize } from './lib/stats.ts';

const WORK_DIR = join(process.cwd(), 'models', '.built', 'bench');
const MODEL = 'smollm2-135m-chat';
const MODEL_DIR = join(WORK_DIR, MODEL);
const PROMPT_TOKENS = 128;
const OUTPUT_TOKENS = Number(process.env.BENCH_OUTPUT_TOKENS ?? 128);
const LEVELS = (process.env.BENCH_LEVELS ?? '1,2,4,8,16').split(',').map(Number);
const PORT = Number(process.env.BENCH_PORT ?? 8392);
const LAYERS = 30;
const KV_HEADS = 3;
const HEAD_DIM = 64;

/** Request i's prompt: 128 distinct-ish ids, clear of the special tokens 0-2. */
const promptIds = (i: number) => Array.from({ length: PROMPT_TOKENS }, (_, t) => 3 + ((i * 7919 + t * 104729) % 49000));

async function throughHttp() {
  const server = await startServerProcess(
    { models: [{ name: MODEL, task: 'text-generation', path: MODEL_DIR, max_running_sequences: 16, max_queued_sequences: 1024 }] },
    WORK_DIR,
    PORT,
  );
  const rows: Row[] = [];
  try {
    const post = createStreamPoster(server.url, 32);
    const stream = (i: number) =>
      post('/v3/completions', {
        model: MODEL,
        prompt: promptIds(i),
        max_tokens: OUTPUT_TOKENS,
        temperature: 0,
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      });
    await stream(0); // warm-up
    for (const concurrency of LEVELS) {
      const timings: StreamTiming[] = [];
      const requests = Math.max(4, concurrency * 2);
      const { wallMs } = await closedLoop(concurrency, requests, async (i) => void timings.push(await stream(1000 * concurrency + i)));
      const tokens = timings.reduce((n, t) => n + t.completionTokens, 0);
      const ttft = summarize(timings.map((t) => t.ttftMs));
      const tpot = summarize(timings.map((t) => t.tpotMs));
      rows.push({ path: 'HTTP /v3/completions (stream)', concurrency, 'tokens/s': round((tokens * 1000) / wallMs), 'TTFT p50 ms': round(ttft.p50), 'TTFT p99 ms': round(ttft.p99), 'TPOT p50 ms': round(tpot.p50, 2), 'TPOT p99 ms': round(tpot.p99, 2) });
      console.log(JSON.stringify(rows.at(-1)));
    }
  } finally {
    await server.stop();
  }
  return rows;
}

/** A plain greedy loop on onnxruntime-node: the ceiling for `batch` equal-length sequences. */
async function rawLoop(batch: number): Promise<number> {
  const session = await ort.InferenceSession.create(join(MODEL_DIR, 'onnx', 'model.onnx'), { graphOptimizationLevel: 'all', interOpNumThreads: 1 });
  const i64 = (a: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);
  const past: Record<string, ort.Tensor> = {};
  for (let l = 0; l < LAYERS; l++) for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = new ort.Tensor('float32', new Float32Array(0), [batch, KV_HEADS, 0, HEAD_DIM]);
  const ids = Array.from({ length: batch }, (_, b) => promptIds(b)).flat();
  const started = performance.now();
  let out = await session.run({
    input_ids: i64(ids, [batch, PROMPT_TOKENS]),
    attention_mask: i64(Array(batch * PROMPT_TOKENS).fill(1), [batch, PROMPT_TOKENS]),
    position_ids: i64(Array.from({ length: batch * PROMPT_TOKENS }, (_, i) => i % PROMPT_TOKENS), [batch, PROMPT_TOKENS]),
    ...past,
  });
  let length = PROMPT_TOKENS;
  for (let step = 1; step < OUTPUT_TOKENS; step++) {
    const logits = out.logits!.data as Float32Array;
    const vocab = logits.length / (batch * (step === 1 ? PROMPT_TOKENS : 1));
    const next: number[] = [];
    for (let b = 0; b < batch; b++) {
      const rowStart = (step === 1 ? (b * PROMPT_TOKENS + PROMPT_TOKENS - 1) : b) * vocab;
      let best = 0;
      for (let v = 1; v < vocab; v++) if ((logits[rowStart + v] as number) > (logits[rowStart + best] as number)) best = v;
      next.push(best);
    }
    for (let l = 0; l < LAYERS; l++) for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = out[`present.${l}.${k}`]!;
    length++;
    out = await session.run({ input_ids: i64(next, [batch, 1]), attention_mask: i64(Array(batch * length).fill(1), [batch, length]), position_ids: i64(Array(batch).fill(length - 1), [batch, 1]), ...past });
  }
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return (batch * OUTPUT_TOKENS) / seconds;
}

/** transformers.js generate(), the same requests one after another. */
async function transformersJs(requests: number): Promise<number> {
  env.allowRemoteModels = false;
  env.localModelPath = `${WORK_DIR}/`;
  const model = await AutoModelForCausalLM.from_pretrained(MODEL, { dtype: 'fp32' });
  let tokens = 0;
  const started = performance.now();
  for (let i = 0; i < requests; i++) {
    const ids = promptIds(5000 + i);
    const input_ids = new HfTensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
    const attention_mask = new HfTensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
    const out = (await model.generate({ input_ids, attention_mask, max_new_tokens: OUTPUT_TOKENS, do_sample: false })) as { dims: number[] };
    tokens += (out.dims[1] as number) - ids.length;
  }
  const seconds = (performance.now() - started) / 1000;
  await model.dispose();
  return tokens / seconds;
}

async function main() {
  if (!isBuilt(MODEL_DIR)) {
    console.log('building the SmolLM2-135M-shaped fixture (about 540 MB)…');
    buildPreset('smollm2-135m-chat', MODEL_DIR);
  }
  const http = await throughHttp();
  const raw1 = await rawLoop(1);
  const raw8 = await rawLoop(8);
  const tjs = await transformersJs(Number(process.env.BENCH_TJS_REQUESTS ?? 4));
  const rows: Row[] = [
    ...http,
    { path: 'raw onnxruntime greedy loop, 1 sequence', concurrency: '-', 'tokens/s': round(raw1) },
    { path: 'raw onnxruntime greedy loop, static batch of 8', concurrency: '-', 'tokens/s': round(raw8) },
    { path: 'transformers.js generate(), sequential', concurrency: '-', 'tokens/s': round(tjs) },
  ];
  printTable(rows);
  const at = (c: number) => http.find((r) => r.concurrency === c)?.['tokens/s'] as number;
  const ratios = {
    c8_vs_raw_batch8: round(at(8) / raw8, 3),
    c1_vs_raw_single: round(at(1) / raw1, 3),
    c8_vs_transformers_js: round(at(8) / tjs, 2),
    raw_batch8_vs_raw_single: round(raw8 / raw1, 2),
  };
  console.log(`\nconcurrency 8 / raw static batch 8: ${ratios.c8_vs_raw_batch8} (goal >= 0.9)`);
  console.log(`concurrency 1 / raw single loop: ${ratios.c1_vs_raw_single} (goal >= 0.9)`);
  console.log(`concurrency 8 / transformers.js: ${ratios.c8_vs_transformers_js}x (goal >= 2)`);
  const file = writeResults('generate', { model: 'SmolLM2-135M shape, random weights', prompt_tokens: PROMPT_TOKENS, output_tokens: OUTPUT_TOKENS, rows, ratios });
  console.log(`wrote ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
