// npm run bench:images — text-to-image throughput on the sd-bench fixture (SD-1.5's block structure
// at a fifth of its widths, 256x256 images, 32x32 latents, random weights), side by side in one
// run: ovserve through HTTP (POST /v3/images/generations to the server as a child process, closed
// loops at concurrency 1 and 4, max_batch_images 4) against the same pipeline run raw in this
// process (no HTTP, no server: the networks over createOnnxRuntimeBackend, the step-batching
// denoiser fed rows built as the text-to-image task builds them, at batch 1 and 4 (the 4 as one
// job, so all 4 run every step), plus each request's text encoding, the VAE decode and the PNG
// encoding so the work matches).
// The two never run at the same time (they would share the 2 cores); they alternate over rounds.
// A third, diagnostic measurement runs the text-to-image task itself in this process (its
// ImageGenerator, no HTTP) in a closed loop at concurrency 4 with the UNet's batch sizes counted:
// it tells the cost of HTTP apart from how the batcher admits requests that arrive apart.
//
// Other processes on the machine skew a 2-core measurement badly, so each cell first waits (at most
// BENCH_QUIET_WAIT_S) until the rest of the machine is near idle, reports the share of the cores
// others used meanwhile ('other CPU'), and is measured again (BENCH_CELL_TRIES in all, the least
// disturbed kept) when that share was above BENCH_MAX_OTHER_CPU. Through HTTP the server's own
// counters (GET /metrics: UNet runs and images made) give the images per UNet run.
//
// BENCH_REQUESTS=8  BENCH_STEPS=4  BENCH_ROUNDS=2  BENCH_THREADS=(unset: all cores)  BENCH_DIAGNOSE=1
// BENCH_QUIET_WAIT_S=300  BENCH_MAX_OTHER_CPU=0.15  BENCH_CELL_TRIES=3
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { buildPreset, isBuilt } from '../models/build.ts';
import { createDiffusionBatcher, type ImageRow } from '../runtime/batching/diffusion-batcher.ts';
import type { Backend } from '../runtime/backends/backend.ts';
import { createOnnxRuntimeBackend } from '../runtime/backends/onnxruntime.ts';
import { choiceSeed } from '../runtime/generation/rng.ts';
import { readDiffusionManifest, type DiffusionManifest } from '../runtime/images/diffusion-manifest.ts';
import { gaussianSource, tensorToRgb } from '../runtime/images/latents.ts';
import { diffusionNetworks, type DiffusionNetworks } from '../runtime/images/networks.ts';
import { encodePng } from '../runtime/images/png.ts';
import { createScheduler } from '../runtime/images/schedulers/index.ts';
import { parseConfig } from '../runtime/index.ts';
import { createImageGenerator } from '../runtime/tasks/text-to-image.ts';
import { createTokenizer, type Tokenizer } from '../runtime/tokenizer.ts';
import { createJsonPoster } from './lib/http-client.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { closedLoop, startServerProcess } from './lib/server-process.ts';
import { round, summarize } from './lib/stats.ts';

const WORK_DIR = join(process.cwd(), 'models', '.built', 'bench');
const PRESET = 'sd-bench';
const MODEL_DIR = join(WORK_DIR, PRESET);
const PORT = Number(process.env.BENCH_PORT ?? 8394);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 8);
const STEPS = Number(process.env.BENCH_STEPS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const THREADS = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : undefined;
const DIAGNOSE = (process.env.BENCH_DIAGNOSE ?? '1') !== '0';
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT_S ?? 300);
/** A cell during which others used more than this share of the cores is measured again (at most CELL_TRIES times in all). */
const MAX_OTHER_CPU = Number(process.env.BENCH_MAX_OTHER_CPU ?? 0.15);
const CELL_TRIES = Number(process.env.BENCH_CELL_TRIES ?? 3);
const SIDE = 256;
const GUIDANCE = 7.5;
const BATCH = 4;
const PROMPT = 'a lighthouse on a cliff at dusk, oil painting';
const CHANNELS = 4;

/** The model entry, as the server gets it and as the in-process runs read it (parsed, with defaults). */
const MODEL_CONFIG = {
  name: PRESET,
  task: 'text-to-image',
  path: MODEL_DIR,
  backend: 'onnxruntime',
  max_batch_images: BATCH,
  max_queued_requests: 64,
  max_images_per_request: 4,
  max_image_side: SIDE,
  default_steps: STEPS,
  max_steps: 150,
  ...(THREADS === undefined ? {} : { threads: THREADS }),
};

function ensureFixture(): void {
  if (isBuilt(MODEL_DIR)) return;
  console.log('building the sd-bench fixture (256x256 images; a few seconds)…');
  buildPreset(PRESET, MODEL_DIR);
}

const seedOf = (round_: number, engine: number, concurrency: number, i: number) => 1_000_000 * round_ + 100_000 * engine + 1000 * concurrency + i;

// ---------------------------------------------------------------------------------------------
// The rest of the machine: busy CPU of all processes (/proc/stat) minus this one's and the server's.

const ticks = (line: string, from: number, count: number) => line.trim().split(/\s+/).slice(from, from + count).map(Number).reduce((a, b) => a + b, 0);
const machineBusyTicks = () => {
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return user + nice + system + irq + softirq + steal;
};
/** utime + stime of a process, all its threads (fields 14 and 15, after the parenthesised name). */
const processTicks = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return ticks(stat.slice(stat.lastIndexOf(')') + 2), 11, 2);
  } catch {
    return 0;
  }
};

/** A window over which `stop` gives the share of all cores others kept busy (0: the machine was ours). */
function otherCpu(pids: () => number[]) {
  const own = () => [process.pid, ...pids()].reduce((s, pid) => s + processTicks(pid), 0);
  const busy0 = machineBusyTicks();
  const own0 = own();
  const t0 = performance.now();
  return () => Math.max(0, (machineBusyTicks() - busy0 - (own() - own0)) / 100 / (((performance.now() - t0) / 1000) * cpus().length));
}

/** Waits until others use under 10% of the cores for 3 s running (at most QUIET_WAIT_S); returns the seconds waited. */
async function waitForQuiet(pids: () => number[] = () => []): Promise<number> {
  const started = performance.now();
  let quiet = 0;
  for (;;) {
    const stop = otherCpu(pids);
    await new Promise((r) => setTimeout(r, 1000));
    const share = stop();
    const waited = (performance.now() - started) / 1000;
    quiet = share < 0.1 ? quiet + 1 : 0;
    if (quiet >= 3) {
      if (waited > 10) console.log(`waited ${Math.round(waited)} s for the rest of the machine to go quiet`);
      return waited;
    }
    if (waited > QUIET_WAIT_S) {
      console.log(`the machine is still busy elsewhere (${Math.round(share * 100)}% of the cores) after ${Math.round(waited)} s; measuring anyway`);
      return waited;
    }
  }
}

/** The server's image batcher counters from GET /metrics: UNet runs so far, images made, largest batch. */
async function serverCounters(url: string): Promise<{ runs: number; images: number; largest: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^ovserve:${name}\\{[^}]*model_name="${PRESET}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { runs: value('batch_runs'), images: value('batch_sequences'), largest: value('largest_batch') };
}

// ---------------------------------------------------------------------------------------------
// HTTP: the server as a child process.

interface Cell {
  engine: string;
  round: number;
  concurrency: number;
  images: number;
  wallMs: number;
  latencies: number[];
  /** In-process runs: UNet runs by number of images in them. */
  unetBatches?: Record<number, number>;
  /** Through HTTP, from the server's counters: UNet runs and the largest batch so far. */
  server?: { unetRuns: number; largestBatch: number };
  /** Share of the cores other processes used during the cell. */
  otherCpu: number;
}

/** One cell: after a quiet wait, measured; again while others kept more than MAX_OTHER_CPU of the cores busy. The least disturbed try is kept. */
async function measured(measure: () => Promise<Cell>, pids: () => number[] = () => []): Promise<Cell> {
  let best: Cell | undefined;
  for (let attempt = 1; attempt <= CELL_TRIES; attempt++) {
    await waitForQuiet(pids);
    const cell = await measure();
    if (!best || cell.otherCpu < best.otherCpu) best = cell;
    if (cell.otherCpu <= MAX_OTHER_CPU) break;
    console.log(`  (${cell.engine} at ${cell.concurrency}: others used ${Math.round(100 * cell.otherCpu)}% of the cores${attempt < CELL_TRIES ? '; measuring again' : '; keeping the least disturbed try'})`);
  }
  report(best as Cell);
  return best as Cell;
}

async function throughHttp(round_: number, order: number[]): Promise<Cell[]> {
  const server = await startServerProcess({ models: [MODEL_CONFIG] }, WORK_DIR, PORT);
  const cells: Cell[] = [];
  try {
    // A fresh keep-alive agent per cell, made after the quiet wait: a socket idle past the server's
    // keepAliveTimeout (20 s) is closed by the server, and reusing it resets the request.
    let post = createJsonPoster(server.url, 8);
    const generate = async (seed: number) => {
      const res = await post('/v3/images/generations', { model: PRESET, prompt: PROMPT, n: 1, size: `${SIDE}x${SIDE}`, num_inference_steps: STEPS, guidance_scale: GUIDANCE, rng_seed: seed, response_format: 'b64_json' });
      if (res.status !== 200) throw new Error(`images/generations answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
      const body = JSON.parse(res.body.toString()) as { data: Array<{ b64_json: string }> };
      const png = Buffer.from(body.data[0]?.b64_json ?? '', 'base64');
      if (body.data.length !== 1 || png.readUInt32BE(0) !== 0x89504e47) throw new Error('images/generations did not answer one PNG');
    };
    // Warm-up: both UNet shapes (2 and 8 rows) and both VAE batch sizes the loops will meet.
    await generate(1);
    await Promise.all([2, 3, 4, 5].map(generate));
    const serverPid = () => [server.child.pid as number];
    for (const concurrency of order) {
      const cell = await measured(async () => {
        post = createJsonPoster(server.url, 8);
        const before = await serverCounters(server.url);
        const others = otherCpu(serverPid);
        const { latencies, wallMs } = await closedLoop(concurrency, REQUESTS, (i) => generate(seedOf(round_, 1, concurrency, i)));
        const otherShare = others();
        const after = await serverCounters(server.url);
        if (after.images - before.images !== REQUESTS) throw new Error(`the server counted ${after.images - before.images} images, not ${REQUESTS}`);
        return { engine: 'ovserve HTTP', round: round_ + 1, concurrency, images: REQUESTS, wallMs, latencies, server: { unetRuns: after.runs - before.runs, largestBatch: after.largest }, otherCpu: otherShare };
      }, serverPid);
      cells.push(cell);
    }
  } finally {
    await server.stop();
  }
  return cells;
}

// ---------------------------------------------------------------------------------------------
// Raw: the same networks and pieces in this process.

interface Pipeline {
  manifest: DiffusionManifest;
  tokenizer: Tokenizer;
  net: DiffusionNetworks;
  /** UNet runs by images in them, since the last reset (rows / 2: every image here is guided). */
  unetBatches: Map<number, number>;
  dispose(): Promise<void>;
}

async function loadPipeline(): Promise<Pipeline> {
  const manifest = readDiffusionManifest(MODEL_DIR);
  const backend = (folder: string) => createOnnxRuntimeBackend(join(folder, 'model.onnx'), { threads: THREADS });
  const { textEncoder, unet, vaeDecoder } = manifest.folders;
  const parts: Record<string, Backend> = { textEncoder: await backend(textEncoder), unet: await backend(unet), vaeDecoder: await backend(vaeDecoder) };
  const inner = diffusionNetworks(parts as { textEncoder: Backend; unet: Backend; vaeDecoder: Backend }, manifest.contextLength, manifest.hiddenSize, manifest.vaeScale);
  const unetBatches = new Map<number, number>();
  // The same networks, with each UNet run's batch counted (a guided image is two rows).
  const net: DiffusionNetworks = {
    contextLength: inner.contextLength,
    hiddenSize: inner.hiddenSize,
    encodeText: (...args) => inner.encodeText(...args),
    decode: (...args) => inner.decode(...args),
    unet: (sample, timesteps, context, shape, signal) => {
      const images = shape.batch / 2;
      unetBatches.set(images, (unetBatches.get(images) ?? 0) + 1);
      return inner.unet(sample, timesteps, context, shape, signal);
    },
  };
  return { manifest, tokenizer: createTokenizer(manifest.tokenizerJson, manifest.tokenizerConfig), net, unetBatches, dispose: () => Promise.all(Object.values(parts).map((p) => p.dispose())).then(() => undefined) };
}

/** The prompt as the text encoder's fixed-length ids, as text-to-image.ts pads it. */
function promptIds(p: Pipeline, text: string): Int32Array {
  const { manifest, tokenizer } = p;
  const pad = tokenizer.tokenToId(String((manifest.tokenizerConfig.pad_token as string | undefined) ?? '<|endoftext|>')) ?? 0;
  const ids = new Int32Array(manifest.contextLength).fill(pad);
  ids.set(tokenizer.encodeSingle(text, manifest.contextLength).ids.slice(0, manifest.contextLength));
  return ids;
}

/** One request's text encoding (negative '' and the prompt, one run of 2) and its one guided row, as text-to-image.ts builds them. */
async function requestRow(p: Pipeline, seed: number, plane: number): Promise<ImageRow> {
  const { manifest, net } = p;
  const hidden = await net.encodeText(Int32Array.from([...promptIds(p, ''), ...promptIds(p, PROMPT)]), 2);
  const block = manifest.contextLength * manifest.hiddenSize;
  const noise = gaussianSource(choiceSeed(seed, 0));
  const schedule = createScheduler(manifest.schedulerConfig, STEPS);
  return { schedule, latents: noise(plane).map((v) => v * schedule.initNoiseSigma), context: hidden.slice(block, 2 * block), negativeContext: hidden.slice(0, block), guidanceScale: GUIDANCE, noise };
}

/**
 * `batch` requests of one image each: each its own text encoding, then all `batch` rows given to
 * the denoiser as one job, so every UNet run holds all of them (the loop the batcher runs for a
 * server, without its announce-and-join for requests still encoding), then the VAE decode
 * of all of them together (the batcher's) and their PNG encoding.
 */
async function rawBatch(p: Pipeline, batch: number, seeds: number[]): Promise<void> {
  const h = SIDE / p.manifest.vaeScale;
  const plane = CHANNELS * h * h;
  const batcher = createDiffusionBatcher(p.net, { maxBatchImages: BATCH, maxQueuedRequests: 64, scalingFactor: p.manifest.scalingFactor });
  const rows: ImageRow[] = [];
  for (const seed of seeds.slice(0, batch)) rows.push(await requestRow(p, seed, plane));
  const pixels: Float32Array[] = new Array(rows.length);
  await new Promise<void>((resolve, reject) => batcher.submit({ latentHeight: h, latentWidth: h, rows, onImage: (i, px) => void (pixels[i] = px), onDone: resolve, onError: reject }));
  for (const px of pixels) if (encodePng(tensorToRgb(px, SIDE, SIDE), SIDE, SIDE).length === 0) throw new Error('empty PNG');
}

async function raw(round_: number, order: number[]): Promise<Cell[]> {
  const p = await loadPipeline();
  const cells: Cell[] = [];
  try {
    await rawBatch(p, 1, [1]); // warm-up: both shapes
    await rawBatch(p, BATCH, [2, 3, 4, 5]);
    for (const batch of order) {
      const cell = await measured(async () => {
        const latencies: number[] = [];
        p.unetBatches.clear();
        const others = otherCpu(() => []);
        const started = performance.now();
        for (let done = 0; done < REQUESTS; done += batch) {
          const t0 = performance.now();
          await rawBatch(p, batch, Array.from({ length: batch }, (_, i) => seedOf(round_, 2, batch, done + i)));
          latencies.push(performance.now() - t0);
        }
        const wallMs = performance.now() - started;
        return { engine: 'raw pipeline, in-process', round: round_ + 1, concurrency: batch, images: Math.ceil(REQUESTS / batch) * batch, wallMs, latencies, unetBatches: Object.fromEntries(p.unetBatches), otherCpu: others() };
      });
      cells.push(cell);
    }
    if (DIAGNOSE) cells.push(await taskInProcess(p, round_));
  } finally {
    await p.dispose();
  }
  return cells;
}

/**
 * Diagnostic: the text-to-image task's own ImageGenerator over the same (counted) networks, in a
 * closed loop at concurrency 4 — what the server runs, less HTTP, JSON and base64.
 */
async function taskInProcess(p: Pipeline, round_: number): Promise<Cell> {
  const entry = parseConfig({ models: [MODEL_CONFIG] }, WORK_DIR).models[0];
  if (!entry) throw new Error('no model entry');
  const generator = createImageGenerator(entry, p.manifest, p.net, p.tokenizer);
  const generate = (seed: number) => generator.generate({ model: PRESET, prompt: PROMPT, n: 1, width: SIDE, height: SIDE, steps: STEPS, guidanceScale: GUIDANCE, seed }).then(() => undefined);
  await generate(1); // the generator's first request
  return measured(async () => {
    p.unetBatches.clear();
    const others = otherCpu(() => []);
    const { latencies, wallMs } = await closedLoop(BATCH, REQUESTS, (i) => generate(seedOf(round_, 3, BATCH, i)));
    return { engine: 'task in-process (diagnostic)', round: round_ + 1, concurrency: BATCH, images: REQUESTS, wallMs, latencies, unetBatches: Object.fromEntries(p.unetBatches), otherCpu: others() };
  });
}

// ---------------------------------------------------------------------------------------------

const imagesPerS = (c: Cell) => (c.images * 1000) / c.wallMs;
const meanBatch = (b: Record<number, number> | undefined) => {
  if (!b) return undefined;
  const runs = Object.values(b).reduce((s, n) => s + n, 0);
  return Object.entries(b).reduce((s, [images, n]) => s + Number(images) * n, 0) / runs;
};

function rowOf(c: Cell): Row {
  const l = summarize(c.latencies);
  const mean = meanBatch(c.unetBatches) ?? (c.server ? (c.images * STEPS) / c.server.unetRuns : undefined);
  return {
    engine: c.engine,
    round: c.round,
    'concurrency / batch': c.concurrency,
    images: c.images,
    'images/s': round(imagesPerS(c), 3),
    'latency p50 ms': round(l.p50),
    'latency p99 ms': round(l.p99),
    'images per UNet run': mean === undefined ? '' : round(mean, 2),
    'other CPU %': round(100 * c.otherCpu),
  };
}

function report(c: Cell): void {
  console.log(JSON.stringify({ ...rowOf(c), ...(c.unetBatches ? { unet_runs_by_images: c.unetBatches } : {}), ...(c.server ? { server: c.server } : {}) }));
}

async function main() {
  const started = performance.now();
  const loadBefore = loadavg()[0] as number;
  ensureFixture();
  if (!existsSync(join(MODEL_DIR, 'unet', 'model.onnx'))) throw new Error(`${MODEL_DIR} has no unet/model.onnx`);
  console.log(`sd-bench at ${SIDE}x${SIDE}, ${STEPS} steps, guidance ${GUIDANCE}, ${REQUESTS} images per cell, ${ROUNDS} rounds, onnxruntime threads: ${THREADS ?? 'all cores (default)'}`);

  const cells: Cell[] = [];
  // Alternate which runs first, and the order of the cells inside each, so drift lands on both.
  for (let round_ = 0; round_ < ROUNDS; round_++) {
    const order = round_ % 2 === 0 ? [1, BATCH] : [BATCH, 1];
    const phases = round_ % 2 === 0 ? [throughHttp, raw] : [raw, throughHttp];
    for (const phase of phases) cells.push(...(await phase(round_, order)));
    console.log(`round ${round_ + 1} done; load average ${loadavg()[0]?.toFixed(2)}`);
  }

  // Per cell, over rounds: images/s from the total images and wall time; latency percentiles over all requests.
  const pooled = (engine: string, concurrency: number): Cell => {
    const picked = cells.filter((c) => c.engine === engine && c.concurrency === concurrency);
    const batches: Record<number, number> = {};
    for (const c of picked) for (const [k, n] of Object.entries(c.unetBatches ?? {})) batches[Number(k)] = (batches[Number(k)] ?? 0) + n;
    const wallMs = picked.reduce((s, c) => s + c.wallMs, 0);
    return {
      engine,
      round: 0,
      concurrency,
      images: picked.reduce((s, c) => s + c.images, 0),
      wallMs,
      latencies: picked.flatMap((c) => c.latencies),
      ...(picked.some((c) => c.unetBatches) ? { unetBatches: batches } : {}),
      ...(picked.some((c) => c.server) ? { server: { unetRuns: picked.reduce((s, c) => s + (c.server?.unetRuns ?? 0), 0), largestBatch: Math.max(...picked.map((c) => c.server?.largestBatch ?? 0)) } } : {}),
      otherCpu: picked.reduce((s, c) => s + c.otherCpu * c.wallMs, 0) / wallMs,
    };
  };
  const http1 = pooled('ovserve HTTP', 1);
  const http4 = pooled('ovserve HTTP', BATCH);
  const raw1 = pooled('raw pipeline, in-process', 1);
  const raw4 = pooled('raw pipeline, in-process', BATCH);
  const task4 = DIAGNOSE ? pooled('task in-process (diagnostic)', BATCH) : undefined;
  const table = [http1, http4, raw1, raw4, ...(task4 ? [task4] : [])].map((c) => {
    const { round: _round, ...rest } = rowOf(c);
    return rest;
  });

  const summary = {
    http_c4_vs_raw_batch4: round(imagesPerS(http4) / imagesPerS(raw4), 3),
    http_c4_vs_http_c1: round(imagesPerS(http4) / imagesPerS(http1), 3),
    raw_batch4_vs_raw_batch1: round(imagesPerS(raw4) / imagesPerS(raw1), 3),
    http_c1_vs_raw_batch1: round(imagesPerS(http1) / imagesPerS(raw1), 3),
    ...(task4 ? { task_c4_vs_raw_batch4: round(imagesPerS(task4) / imagesPerS(raw4), 3), http_c4_vs_task_c4: round(imagesPerS(http4) / imagesPerS(task4), 3) } : {}),
  };
  const goals = { http_c4_vs_raw_batch4: 0.9, http_c4_vs_http_c1: 1.5 };

  console.log('\nper round:');
  printTable(cells.map(rowOf));
  console.log('\nover all rounds (images/s = all images / all wall time; latency over all requests, or over raw batches):');
  printTable(table);
  console.log('\nratios (same run):');
  printTable(Object.entries(summary).map(([ratio, value]) => ({ ratio, value, goal: ratio in goals ? `>= ${goals[ratio as keyof typeof goals]}` : '', met: ratio in goals ? (value >= goals[ratio as keyof typeof goals] ? 'yes' : 'NO') : '' })));

  const file = writeResults('images', {
    model: `${PRESET} (random weights; SD-1.5 block structure at a fifth of its widths)`,
    size: `${SIDE}x${SIDE}`,
    steps: STEPS,
    guidance_scale: GUIDANCE,
    max_batch_images: BATCH,
    requests_per_cell: REQUESTS,
    rounds: ROUNDS,
    onnxruntime_threads: THREADS ?? 'default (all cores)',
    load_average: { start: loadBefore, end: loadavg()[0] },
    rows: table,
    per_round: cells.map((c) => ({ ...rowOf(c), ...(c.unetBatches ? { unet_runs_by_images: c.unetBatches } : {}), ...(c.server ? { server: c.server } : {}) })),
    summary,
    goals,
  });
  console.log(`wrote ${file} (${Math.round((performance.now() - started) / 1000)} s in all)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
