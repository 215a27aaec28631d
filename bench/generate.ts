// npm run bench:generate — ovserve against node-llama-cpp (llama.cpp) on the same weights, side by
// side in one run: a SmolLM2-135M-shaped fixture served by ovserve in fp32, int8 and q4, and its
// GGUF exports (f32, q8_0, q4_0) run by node-llama-cpp 3.21.1. First a check that the f32 GGUF
// decodes the same greedy ids as ovserve fp32. Then, per precision pair, 128 prompt + 128 output
// tokens (EOS ignored) at concurrency 1 and 8: ovserve through HTTP (streamed /v3/completions, the
// server as a child process), ovserve's own raw static batch of 8 over the same prepared graph
// (no HTTP, no scheduler), and node-llama-cpp at its best thread count (one context, 8 sequences).
// Reports tokens/s, TTFT and TPOT p50/p99, RSS, and the ratios the goals are stated in.
//
// BENCH_FORMATS=fp32,int8,q4  BENCH_OUTPUT_TOKENS=128  BENCH_PEER_THREADS=1,2  BENCH_TJS_REQUESTS=4
import { AutoModelForCausalLM, env, Tensor as HfTensor } from '@huggingface/transformers';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ensureDecoderFixture, MODEL_DIR, PRESET, WORK_DIR } from './lib/decoder-fixture.ts';
import { createOnnxRuntimeBackend } from '../runtime/backends/onnxruntime.ts';
import { createOwnedKvSession, ownedKvDecoderOf } from '../runtime/backends/owned-kv-session.ts';
import { createOptimumSession, optimumDecoderOf } from '../runtime/backends/optimum-session.ts';
import { createRuntime, parseConfig } from '../runtime/index.ts';
import { readManifest } from '../runtime/manifest.ts';
import { preparedModelFile, type Quantize } from '../runtime/onnx/prepare.ts';
import { exportGgufs, type GgufVariant } from './lib/gguf-export.ts';
import { defaultPromptIds, llamaCppGreedy, measureLlamaCpp } from './lib/llama-cpp-peer.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { createStreamPoster, type StreamTiming } from './lib/sse-client.ts';
import { closedLoop, startServerProcess } from './lib/server-process.ts';
import { round, summarize } from './lib/stats.ts';

const MODEL = PRESET;
const SOURCE_FILE = join(MODEL_DIR, 'onnx', 'model.onnx');
const PROMPT_TOKENS = 128;
const OUTPUT_TOKENS = Number(process.env.BENCH_OUTPUT_TOKENS ?? 128);
const PORT = Number(process.env.BENCH_PORT ?? 8392);
const CHECK_PROMPT = defaultPromptIds(42, 16);
const CHECK_TOKENS = 32;
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').map((s) => s.trim());

interface Format {
  name: 'fp32' | 'int8' | 'q4';
  quantize: Quantize;
  gguf: GgufVariant;
}
const FORMATS: Format[] = (
  [
    { name: 'fp32', quantize: 'none', gguf: 'f32' },
    { name: 'int8', quantize: 'int8', gguf: 'q8_0' },
    { name: 'q4', quantize: 'q4', gguf: 'q4_0' },
  ] as Format[]
).filter((f) => list('BENCH_FORMATS', 'fp32,int8,q4').includes(f.name));

const promptIds = (i: number) => defaultPromptIds(i, PROMPT_TOKENS);
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** The f32 GGUF must decode what ovserve fp32 decodes (the runtime in-process, fused as served). */
async function greedyCheck(f32File: string) {
  const runtime = createRuntime(parseConfig({ models: [{ name: 'm', task: 'text-generation', path: MODEL_DIR }] }, WORK_DIR), { log: () => {} });
  await runtime.ready;
  const ids: number[] = [];
  for await (const e of await runtime.generate({ model: 'm', prompts: [{ tokens: CHECK_PROMPT }], n: 1, maxTokens: CHECK_TOKENS, temperature: 0, ignoreEos: true })) {
    if (e.type !== 'finish') ids.push(...e.tokenIds);
  }
  await runtime.close();
  const peer = (await llamaCppGreedy(f32File, CHECK_PROMPT, CHECK_TOKENS)).ids;
  let agreeing = 0;
  while (agreeing < CHECK_TOKENS && ids[agreeing] === peer[agreeing]) agreeing++;
  console.log(`greedy check: ${agreeing}/${CHECK_TOKENS} ids of the f32 GGUF on node-llama-cpp equal ovserve fp32's${agreeing === CHECK_TOKENS ? ' (identical)' : ''}`);
  return { prompt: CHECK_PROMPT, ovserve_ids: ids, llama_cpp_ids: peer, agreeing_prefix: agreeing, identical: agreeing === CHECK_TOKENS };
}

/** The RSS of the server started with no models: the process's own share of RSS after load. */
async function serverWithoutModels(): Promise<number> {
  const server = await startServerProcess({ models: [] }, WORK_DIR, PORT);
  try {
    return rssOf(server.child.pid as number).rss; // at ready, as the loaded servers' figure is
  } finally {
    await server.stop();
  }
}

/** ovserve through HTTP at concurrency 1 and 8, with the server's RSS after load and its peak. */
async function throughHttp(format: Format) {
  const server = await startServerProcess(
    { models: [{ name: MODEL, task: 'text-generation', path: MODEL_DIR, quantize: format.quantize, max_running_sequences: 8, max_queued_sequences: 1024 }] },
    WORK_DIR,
    PORT,
  );
  const rows: Row[] = [];
  try {
    const loaded = rssOf(server.child.pid as number);
    const post = createStreamPoster(server.url, 16);
    const stream = (i: number) =>
      // Chunks with text are timed (no logprobs: asking for them cost 17-21% of c8 throughput). A
      // token with no text yet shows with a later one, so TTFT can come late (README, Benchmarks).
      post('/v3/completions', { model: MODEL, prompt: promptIds(i), max_tokens: OUTPUT_TOKENS, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
    await stream(0); // warm-up
    for (const concurrency of [1, 8]) {
      const timings: StreamTiming[] = [];
      const requests = concurrency === 1 ? 4 : 16;
      const { wallMs } = await closedLoop(concurrency, requests, async (i) => void timings.push(await stream(1000 * concurrency + i)));
      const tokens = timings.reduce((n, t) => n + t.completionTokens, 0);
      const ttft = summarize(timings.map((t) => t.ttftMs));
      const tpot = summarize(timings.map((t) => t.tpotMs));
      rows.push({
        engine: `ovserve ${format.name}, HTTP`,
        concurrency,
        'tokens/s': round((tokens * 1000) / wallMs),
        'TTFT p50 ms': round(ttft.p50),
        'TTFT p99 ms': round(ttft.p99),
        'TPOT p50 ms': round(tpot.p50, 2),
        'TPOT p99 ms': round(tpot.p99, 2),
        'RSS MB': mib(rssOf(server.child.pid as number).rss),
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
    return { rows, loadedRss: loaded.rss, peakRss: rssOf(server.child.pid as number).peak };
  } finally {
    await server.stop();
  }
}

/** ovserve's engine without HTTP or scheduler: a static batch, greedy, on the graph the server loads. */
async function rawBatch(file: string, batch: number): Promise<number> {
  const manifest = readManifest(MODEL_DIR);
  const backend = await createOnnxRuntimeBackend(file, {});
  const owned = ownedKvDecoderOf(backend, manifest.maxLength);
  const session = !owned ? createOptimumSession(optimumDecoderOf(backend, manifest)) : backend.openOwnedKvSession ? await backend.openOwnedKvSession(manifest.maxLength) : createOwnedKvSession(owned);
  const vocab = Number(manifest.hfConfig.vocab_size);
  const argmax = (logits: Float32Array, offset: number) => {
    let best = 0;
    for (let v = 1; v < vocab; v++) if ((logits[offset + v] as number) > (logits[offset + best] as number)) best = v;
    return best;
  };
  try {
    const started = performance.now();
    const prefill = await session.prefill(Array.from({ length: batch }, (_, b) => promptIds(b)));
    let tokens = Array.from({ length: batch }, (_, b) => argmax(prefill.last(b), 0));
    for (let step = 1; step < OUTPUT_TOKENS; step++) {
      const logits = await session.decode(tokens);
      tokens = tokens.map((_, b) => argmax(logits, b * vocab));
    }
    return (batch * OUTPUT_TOKENS * 1000) / (performance.now() - started);
  } finally {
    await backend.dispose();
  }
}

/** transformers.js generate(), the same kind of requests one after another (fp32). */
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
  const started = performance.now();
  const loadBefore = loadavg()[0] as number;
  ensureDecoderFixture();
  const ggufs = exportGgufs(PRESET, MODEL_DIR, WORK_DIR);
  const check = await greedyCheck(ggufs.f32);
  if (!check.identical) process.exitCode = 1;

  const rows: Row[] = [];
  const summary: Record<string, Record<string, number>> = {};
  const config = readManifest(MODEL_DIR).hfConfig;
  const emptyRss = await serverWithoutModels();
  for (const format of FORMATS) {
    // Rewritten (or found in the cache) first, so the server's RSS after load is a restart's.
    const file = await preparedModelFile(SOURCE_FILE, { quantize: format.quantize, fuse: config, decoder: true, log: console.log });
    const http = await throughHttp(format);
    const raw8 = await rawBatch(file, 8);
    const raw1 = await rawBatch(file, 1);
    const peer = await measureLlamaCpp({ modelDir: MODEL_DIR, ggufDir: WORK_DIR, preset: PRESET, variants: [format.gguf], threads: list('BENCH_PEER_THREADS', '1,2').map(Number), concurrency: [1, 8], promptTokens: PROMPT_TOKENS, outputTokens: OUTPUT_TOKENS, promptIds });
    const best = (c: number) => peer.filter((r) => r.concurrency === c).sort((a, b) => (b['tokens/s'] as number) - (a['tokens/s'] as number))[0] as Row;
    const peerRows = [1, 8].map((c) => {
      const r = best(c);
      return { engine: `node-llama-cpp ${format.gguf}, ${r.threads} thread${r.threads === 1 ? '' : 's'} (best)`, concurrency: c, 'tokens/s': r['tokens/s'], 'TTFT p50 ms': r['TTFT p50 ms'], 'TTFT p99 ms': r['TTFT p99 ms'], 'TPOT p50 ms': r['TPOT p50 ms'], 'TPOT p99 ms': r['TPOT p99 ms'], 'RSS MB': r['RSS MB'] } as Row;
    });
    rows.push(...http.rows, { engine: `ovserve ${format.name}, raw static batch`, concurrency: 1, 'tokens/s': round(raw1) }, { engine: `ovserve ${format.name}, raw static batch`, concurrency: 8, 'tokens/s': round(raw8) }, ...peerRows);
    const at = (c: number) => http.rows.find((r) => r.concurrency === c)?.['tokens/s'] as number;
    // The model file and its external weights (the rewrite writes them beside it).
    const fileBytes = statSync(file).size + (existsSync(`${file}.data`) ? statSync(`${file}.data`).size : 0);
    summary[format.name] = {
      c1_vs_llama_cpp: round(at(1) / (best(1)['tokens/s'] as number), 2),
      c8_vs_llama_cpp: round(at(8) / (best(8)['tokens/s'] as number), 2),
      http_c8_vs_raw_batch8: round(at(8) / raw8, 3),
      model_file_mb: mib(fileBytes),
      rss_after_load_mb: mib(http.loadedRss),
      rss_after_load_vs_file: round(http.loadedRss / fileBytes, 2),
      // What loading the model added to a server serving none (node, the routes, no onnxruntime yet).
      rss_added_by_load_vs_file: round((http.loadedRss - emptyRss) / fileBytes, 2),
      server_without_models_mb: mib(emptyRss),
      rss_peak_mb: mib(http.peakRss),
      llama_cpp_rss_c8_mb: best(8)['RSS MB'] as number,
    };
    console.log(`${format.name}: ${JSON.stringify(summary[format.name])}`);
  }
  const tjsRequests = Number(process.env.BENCH_TJS_REQUESTS ?? 4);
  const tjs = tjsRequests > 0 ? await transformersJs(tjsRequests) : NaN;
  if (tjsRequests > 0) rows.push({ engine: 'transformers.js generate() fp32, sequential', concurrency: 1, 'tokens/s': round(tjs) });

  printTable(rows);
  console.log('\nratios (same run):');
  printTable(Object.entries(summary).map(([format, s]) => ({ format, ...s })));
  const file = writeResults('generate', {
    model: 'SmolLM2-135M shape, random weights; GGUF exports of the same weights for the peer',
    peer: 'node-llama-cpp 3.21.1 (prebuilt CPU binary), best of its thread counts per cell',
    prompt_tokens: PROMPT_TOKENS,
    output_tokens: OUTPUT_TOKENS,
    greedy_check: check,
    load_average: { start: loadBefore, end: loadavg()[0] },
    rows,
    summary,
    transformers_js_tokens_per_s: round(tjs),
  });
  console.log(`wrote ${file} (${Math.round((performance.now() - started) / 1000)} s in all)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
