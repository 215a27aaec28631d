// npm run bench:quantize — the int8 rewrite (runtime/onnx/quantize-int8.ts) against FP32 on the
// SmolLM2-135M-shaped decoder and the all-MiniLM-L6-v2-shaped encoder: file size, rewrite time,
// session load, ms per decode step at batch 1 and 8 and encoder texts/s at batch 16 (raw
// onnxruntime-node, 2 intra-op threads), and how close int8 stays to FP32 (top-1 agreement).
// FP32 and int8 are measured in alternating rounds so a busy machine skews both alike.
import * as ort from 'onnxruntime-node';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPreset, isBuilt } from '../models/build.ts';
import { quantizedModelFile, type RewriteSummary } from '../runtime/onnx/quantized-cache.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { round } from './lib/stats.ts';

const WORK_DIR = join(process.cwd(), 'models', '.built', 'bench');
const DECODER = 'smollm2-135m-chat';
const ENCODER = 'minilm-l6-embed';
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROMPT_TOKENS = 128;
const DECODE_STEPS = Number(process.env.BENCH_DECODE_STEPS ?? 48);
const AGREEMENT_STEPS = 128;
const ENCODER_BATCH = 16;
const ENCODER_LENGTHS = [16, 128];
const ENCODER_RUNS = Number(process.env.BENCH_ENCODER_RUNS ?? 12);

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
};
const mib = (file: string) => round(statSync(file).size / 2 ** 20, 1);
const i64 = (a: readonly number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);
const open = (file: string) => ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', intraOpNumThreads: THREADS, interOpNumThreads: 1 });

async function timedOpen(file: string) {
  const t0 = performance.now();
  const session = await open(file);
  return { session, loadMs: performance.now() - t0 };
}

async function quantized(modelDir: string, cacheDir: string) {
  let summary: RewriteSummary | undefined;
  const source = join(modelDir, 'onnx', 'model.onnx');
  const t0 = performance.now();
  const file = await quantizedModelFile(source, 'int8', { cacheDir, onRewrite: (s) => (summary = s) });
  const rewriteMs = performance.now() - t0;
  const t1 = performance.now();
  await quantizedModelFile(source, 'int8', { cacheDir });
  const reuseMs = performance.now() - t1;
  if (!summary) throw new Error('expected a fresh rewrite into an empty cache folder');
  return { source, file, rewriteMs, reuseMs, summary };
}

// ---- decoder ----------------------------------------------------------------------------------

interface DecoderShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

type Feeds = Record<string, ort.Tensor>;

function decoderShape(modelDir: string): DecoderShape {
  const c = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { num_hidden_layers: number; num_key_value_heads: number; head_dim: number };
  return { layers: c.num_hidden_layers, kvHeads: c.num_key_value_heads, headDim: c.head_dim };
}

function emptyPast(shape: DecoderShape, batch: number): Feeds {
  const past: Feeds = {};
  for (let l = 0; l < shape.layers; l++) for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = new ort.Tensor('float32', new Float32Array(0), [batch, shape.kvHeads, 0, shape.headDim]);
  return past;
}

function presentAsPast(shape: DecoderShape, out: ort.InferenceSession.OnnxValueMapType): Feeds {
  const past: Feeds = {};
  for (let l = 0; l < shape.layers; l++) for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = out[`present.${l}.${k}`] as ort.Tensor;
  return past;
}

/** One forward pass over `rows` (equal lengths) after `cached` tokens; the last position's logits per row. */
async function forward(session: ort.InferenceSession, shape: DecoderShape, rows: number[][], cached: number, past: Feeds) {
  const batch = rows.length;
  const len = (rows[0] as number[]).length;
  const out = await session.run({
    input_ids: i64(rows.flat(), [batch, len]),
    attention_mask: i64(Array(batch * (cached + len)).fill(1), [batch, cached + len]),
    position_ids: i64(Array.from({ length: batch * len }, (_, i) => cached + (i % len)), [batch, len]),
    ...past,
  });
  const logits = (out.logits as ort.Tensor).data as Float32Array;
  const vocab = logits.length / (batch * len);
  const last = rows.map((_, b) => logits.subarray((b * len + len - 1) * vocab, (b * len + len) * vocab));
  return { last, past: presentAsPast(shape, out) };
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

const promptIds = (row: number, length: number) => Array.from({ length }, (_, t) => 3 + ((row * 7919 + t * 104729) % 49000));

/** Prefills a 128-token prompt per row, then times `DECODE_STEPS` greedy steps; median ms per step. */
async function msPerDecodeStep(session: ort.InferenceSession, shape: DecoderShape, batch: number): Promise<number> {
  const rows = Array.from({ length: batch }, (_, b) => promptIds(b, PROMPT_TOKENS));
  let { last, past } = await forward(session, shape, rows, 0, emptyPast(shape, batch));
  const times: number[] = [];
  for (let step = 0; step < DECODE_STEPS; step++) {
    const next = last.map((l) => [argmax(l)]);
    const t0 = performance.now();
    ({ last, past } = await forward(session, shape, next, PROMPT_TOKENS + step, past));
    times.push(performance.now() - t0);
  }
  return median(times);
}

function compareLogits(a: Float32Array, b: Float32Array) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
    maxAbs = Math.max(maxAbs, Math.abs(x - y));
  }
  return { cosine: dot / Math.sqrt(na * nb), maxAbs };
}

/** Teacher-forced: both models read FP32's greedy tokens; how often int8's top-1 is FP32's. */
async function agreement(fp32: ort.InferenceSession, int8: ort.InferenceSession, shape: DecoderShape) {
  const prompt = [promptIds(0, 32)];
  let a = await forward(fp32, shape, prompt, 0, emptyPast(shape, 1));
  let b = await forward(int8, shape, prompt, 0, emptyPast(shape, 1));
  let same = 0;
  let maxAbs = 0;
  let minCosine = 1;
  let sumCosine = 0;
  for (let step = 0; step < AGREEMENT_STEPS; step++) {
    const la = a.last[0] as Float32Array;
    const lb = b.last[0] as Float32Array;
    const token = argmax(la);
    if (argmax(lb) === token) same++;
    const c = compareLogits(la, lb);
    maxAbs = Math.max(maxAbs, c.maxAbs);
    minCosine = Math.min(minCosine, c.cosine);
    sumCosine += c.cosine;
    const cached = 32 + step;
    a = await forward(fp32, shape, [[token]], cached, a.past);
    b = await forward(int8, shape, [[token]], cached, b.past);
  }
  return { top1: same / AGREEMENT_STEPS, maxAbs, minCosine, meanCosine: sumCosine / AGREEMENT_STEPS };
}

async function benchDecoder(cacheDir: string) {
  const dir = join(WORK_DIR, DECODER);
  if (!isBuilt(dir)) {
    console.log(`building ${DECODER} (about 540 MB)…`);
    buildPreset(DECODER, dir);
  }
  const shape = decoderShape(dir);
  const q = await quantized(dir, cacheDir);
  console.log(`${DECODER}: quantized ${q.summary.quantized.length} MatMuls in ${round(q.rewriteMs)} ms`);
  const fp32 = await timedOpen(q.source);
  const int8 = await timedOpen(q.file);
  const steps: Record<string, number[]> = { fp32_1: [], int8_1: [], fp32_8: [], int8_8: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const batch of [1, 8]) {
      steps[`fp32_${batch}`]!.push(await msPerDecodeStep(fp32.session, shape, batch));
      steps[`int8_${batch}`]!.push(await msPerDecodeStep(int8.session, shape, batch));
    }
    console.log(`round ${r + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(v.at(-1) as number, 2)])))}`);
  }
  const agree = await agreement(fp32.session, int8.session, shape);
  await fp32.session.release();
  await int8.session.release();
  const ms = (k: string) => median(steps[k] as number[]);
  return {
    model: DECODER,
    fp32_mib: mib(q.source),
    int8_mib: mib(q.file),
    rewrite_ms: round(q.rewriteMs),
    cache_reuse_ms: round(q.reuseMs),
    quantized_matmuls: q.summary.quantized.length,
    load_ms: { fp32: round(fp32.loadMs), int8: round(int8.loadMs) },
    decode_ms_per_step: { batch1: { fp32: round(ms('fp32_1'), 2), int8: round(ms('int8_1'), 2) }, batch8: { fp32: round(ms('fp32_8'), 2), int8: round(ms('int8_8'), 2) } },
    speedup: { batch1: round(ms('fp32_1') / ms('int8_1'), 2), batch8: round(ms('fp32_8') / ms('int8_8'), 2) },
    rounds: steps,
    teacher_forced: { steps: AGREEMENT_STEPS, top1_agreement: round(agree.top1, 3), logits_max_abs_err: round(agree.maxAbs, 4), logits_cosine_mean: round(agree.meanCosine, 5), logits_cosine_min: round(agree.minCosine, 5) },
  };
}

// ---- encoder ----------------------------------------------------------------------------------

function encoderFeeds(length: number) {
  const ids = Array.from({ length: ENCODER_BATCH }, (_, b) => Array.from({ length }, (_, t) => (t === 0 ? 101 : t === length - 1 ? 102 : 1000 + ((b * 31 + t * 17) % 28000)))).flat();
  const t = (xs: number[]) => i64(xs, [ENCODER_BATCH, length]);
  return { input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(ids.map(() => 0)) };
}

async function encoderSeconds(session: ort.InferenceSession, feeds: Feeds): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < ENCODER_RUNS; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  return median(times) / 1000;
}

/** Mean-pooled, normalised embeddings of both models: worst cosine, and the hidden state's max |diff|. */
async function embeddingError(fp32: ort.InferenceSession, int8: ort.InferenceSession, feeds: Feeds, length: number) {
  const a = (await fp32.run(feeds)).last_hidden_state as ort.Tensor;
  const b = (await int8.run(feeds)).last_hidden_state as ort.Tensor;
  const ha = a.data as Float32Array;
  const hb = b.data as Float32Array;
  const dim = ha.length / (ENCODER_BATCH * length);
  let minCosine = 1;
  let maxAbs = 0;
  for (let i = 0; i < ha.length; i++) maxAbs = Math.max(maxAbs, Math.abs((ha[i] as number) - (hb[i] as number)));
  for (let row = 0; row < ENCODER_BATCH; row++) {
    const pool = (h: Float32Array) => {
      const v = new Float64Array(dim);
      for (let t = 0; t < length; t++) for (let d = 0; d < dim; d++) v[d] = (v[d] as number) + (h[(row * length + t) * dim + d] as number);
      return v;
    };
    const pa = pool(ha);
    const pb = pool(hb);
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let d = 0; d < dim; d++) {
      dot += (pa[d] as number) * (pb[d] as number);
      na += (pa[d] as number) ** 2;
      nb += (pb[d] as number) ** 2;
    }
    minCosine = Math.min(minCosine, dot / Math.sqrt(na * nb));
  }
  return { minCosine, maxAbs };
}

async function benchEncoder(cacheDir: string) {
  const dir = join(WORK_DIR, ENCODER);
  if (!isBuilt(dir)) {
    console.log(`building ${ENCODER}…`);
    buildPreset(ENCODER, dir);
  }
  const q = await quantized(dir, cacheDir);
  console.log(`${ENCODER}: quantized ${q.summary.quantized.length} MatMuls in ${round(q.rewriteMs)} ms`);
  const fp32 = await timedOpen(q.source);
  const int8 = await timedOpen(q.file);
  const byLength: Record<string, unknown> = {};
  for (const length of ENCODER_LENGTHS) {
    const feeds = encoderFeeds(length);
    for (let i = 0; i < 2; i++) {
      await fp32.session.run(feeds);
      await int8.session.run(feeds);
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(ENCODER_BATCH / (await encoderSeconds(fp32.session, feeds)));
      b.push(ENCODER_BATCH / (await encoderSeconds(int8.session, feeds)));
    }
    const err = await embeddingError(fp32.session, int8.session, feeds, length);
    byLength[`tokens_${length}`] = {
      texts_per_s: { fp32: round(median(a)), int8: round(median(b)) },
      speedup: round(median(b) / median(a), 2),
      rounds: { fp32: a.map((x) => round(x)), int8: b.map((x) => round(x)) },
      embedding_cosine_min: round(err.minCosine, 6),
      hidden_max_abs_err: round(err.maxAbs, 4),
    };
    console.log(`${ENCODER} ${length} tokens: ${JSON.stringify(byLength[`tokens_${length}`])}`);
  }
  await fp32.session.release();
  await int8.session.release();
  return {
    model: ENCODER,
    fp32_mib: mib(q.source),
    int8_mib: mib(q.file),
    rewrite_ms: round(q.rewriteMs),
    cache_reuse_ms: round(q.reuseMs),
    quantized_matmuls: q.summary.quantized.length,
    load_ms: { fp32: round(fp32.loadMs), int8: round(int8.loadMs) },
    batch: ENCODER_BATCH,
    ...byLength,
  };
}

async function main() {
  const cacheDir = mkdtempSync(join(tmpdir(), 'ovserve-quantize-bench-'));
  // Other work on the machine shows up in every timing; the load averages go into the results.
  const loadBefore = loadavg().map((x) => round(x, 2));
  try {
    const only = process.env.BENCH_ONLY;
    const encoder = only === 'decoder' ? undefined : await benchEncoder(cacheDir);
    const decoder = only === 'encoder' ? undefined : await benchDecoder(cacheDir);
    const rows: Row[] = [];
    if (decoder) {
      const d = decoder;
      rows.push(
        { model: d.model, measure: 'file MiB', fp32: d.fp32_mib, int8: d.int8_mib, 'int8 / fp32': round(d.int8_mib / d.fp32_mib, 2) },
        { model: d.model, measure: 'rewrite ms (cache reuse ms)', fp32: '-', int8: `${d.rewrite_ms} (${d.cache_reuse_ms})`, 'int8 / fp32': '-' },
        { model: d.model, measure: 'session load ms', fp32: d.load_ms.fp32, int8: d.load_ms.int8, 'int8 / fp32': round(d.load_ms.int8 / d.load_ms.fp32, 2) },
        { model: d.model, measure: 'ms / decode step, batch 1', fp32: d.decode_ms_per_step.batch1.fp32, int8: d.decode_ms_per_step.batch1.int8, 'int8 / fp32': round(1 / d.speedup.batch1, 2) },
        { model: d.model, measure: 'ms / decode step, batch 8', fp32: d.decode_ms_per_step.batch8.fp32, int8: d.decode_ms_per_step.batch8.int8, 'int8 / fp32': round(1 / d.speedup.batch8, 2) },
        { model: d.model, measure: `top-1 agreement (${AGREEMENT_STEPS} teacher-forced steps)`, fp32: 1, int8: d.teacher_forced.top1_agreement, 'int8 / fp32': '-' },
        { model: d.model, measure: 'logits cosine mean / min', fp32: 1, int8: `${d.teacher_forced.logits_cosine_mean} / ${d.teacher_forced.logits_cosine_min}`, 'int8 / fp32': '-' },
      );
    }
    if (encoder) {
      const e = encoder as typeof encoder & Record<string, { texts_per_s: { fp32: number; int8: number }; speedup: number; embedding_cosine_min: number }>;
      rows.push(
        { model: e.model, measure: 'file MiB', fp32: e.fp32_mib, int8: e.int8_mib, 'int8 / fp32': round(e.int8_mib / e.fp32_mib, 2) },
        { model: e.model, measure: 'rewrite ms (cache reuse ms)', fp32: '-', int8: `${e.rewrite_ms} (${e.cache_reuse_ms})`, 'int8 / fp32': '-' },
        { model: e.model, measure: 'session load ms', fp32: e.load_ms.fp32, int8: e.load_ms.int8, 'int8 / fp32': round(e.load_ms.int8 / e.load_ms.fp32, 2) },
      );
      for (const length of ENCODER_LENGTHS) {
        const r = e[`tokens_${length}`] as (typeof e)[string];
        rows.push(
          { model: e.model, measure: `texts/s, batch ${ENCODER_BATCH} x ${length} tokens`, fp32: r.texts_per_s.fp32, int8: r.texts_per_s.int8, 'int8 / fp32': r.speedup },
          { model: e.model, measure: `embedding cosine min (${length} tokens)`, fp32: 1, int8: r.embedding_cosine_min, 'int8 / fp32': '-' },
        );
      }
    }
    printTable(rows);
    const load = { before: loadBefore, after: loadavg().map((x) => round(x, 2)) };
    console.log(`load average (1, 5, 15 min) before ${load.before.join(', ')}, after ${load.after.join(', ')}`);
    const file = writeResults('quantize', { threads: THREADS, rounds: ROUNDS, weights: 'random (fixture presets)', load_average: load, rows, decoder, encoder });
    console.log(`wrote ${file}`);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
