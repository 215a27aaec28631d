// npm run bench:scheduling — the scheduler's policies on the SmolLM2-135M-shaped fixture (fp32,
// fused), through HTTP with the server as a child process, each side by side with the same server
// running the policy off, in one run:
//   mixed load: 7 streams decode while a request with a 1,000-token prompt arrives — the streams'
//     largest gap against their median gap, the newcomer's TTFT against its TTFT on an idle
//     server, and aggregate tok/s; chunked prefill (max_step_tokens) against whole prefills; and a
//     control, the same 7 streams with no newcomer: the largest gap this machine gives a decode alone.
//     Also the p99 gap, and from the server's /metrics the mean decode run and the mean decode run
//     a chunk rode in: what a chunk costs the streams' step, apart from the machine's own spikes.
//   closed loop at concurrency 8: TTFT and TPOT p50 / p99, chunked and whole.
//   prefix cache: 16 requests sharing a 1,000-token system prompt; TTFT warm against cold.
//   prompt lookup: a repetitive prompt at concurrency 1; tok/s with num_assistant_tokens 5 against 0.
//
// BENCH_ROUNDS=3  BENCH_PORT=8394  BENCH_STEP_TOKENS (the main budget)  BENCH_EXTRA_STEP_TOKENS=64,96 (more, side by side)
// BENCH_TOKEN_GAPS=1 (time tokens, not text)
import { loadavg } from 'node:os';
import { ensureDecoderFixture, MODEL_DIR, PRESET, WORK_DIR } from './lib/decoder-fixture.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { closedLoop, startServerProcess } from './lib/server-process.ts';
import { createStreamPoster, type StreamTiming } from './lib/sse-client.ts';
import { round, summarize } from './lib/stats.ts';
import { sample } from '../test/helpers/prometheus-text.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PORT = Number(process.env.BENCH_PORT ?? 8394);
const VOCAB = 49152;
const LONG_PROMPT = 1000;
/** max_step_tokens of the policies model; unset: the config default. */
const STEP_TOKENS = process.env.BENCH_STEP_TOKENS ? Number(process.env.BENCH_STEP_TOKENS) : undefined;
/** BENCH_EXTRA_STEP_TOKENS=64,96: more budgets, each its own model, in the mixed load and the closed loop beside the main one. */
const EXTRA_STEP_TOKENS = (process.env.BENCH_EXTRA_STEP_TOKENS ?? '').split(',').filter(Boolean).map(Number);
/** BENCH_PROBE=1: only the closed loop, for chunked with and without the prefix cache against whole (a diagnosis run). */
const PROBE = process.env.BENCH_PROBE === '1';

/** Deterministic distinct prompts: token ids from a seeded generator (never the same twice, so no accidental cache hits). */
let promptSeed = 1;
function freshPrompt(length: number): number[] {
  let x = promptSeed++ * 2654435761;
  return Array.from({ length }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return 100 + (x % (VOCAB - 200));
  });
}

type Streamed = StreamTiming;

let poster: ReturnType<typeof createStreamPoster> | undefined;

/**
 * A streamed /v3/completions call over token ids, greedy, EOS ignored; resolves with its chunk
 * times. BENCH_TOKEN_GAPS=1 asks for logprobs 0, so every token's chunk carries it (without, a
 * token with no text yet merges into the next chunk and its gap counts twice; with, the logprobs
 * work lengthens every step).
 */
const TOKEN_GAPS = process.env.BENCH_TOKEN_GAPS === '1';
function stream(base: string, model: string, prompt: number[], maxTokens: number, extra: object = {}, onChunk?: (count: number) => void): Promise<Streamed> {
  poster ??= createStreamPoster(base, 64);
  return poster('/v3/completions', { model, prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, ...(TOKEN_GAPS ? { logprobs: 0 } : {}), stream: true, stream_options: { include_usage: true }, ...extra }, onChunk);
}

const ttft = (s: Streamed) => s.ttftMs;
const gaps = (s: Streamed, from = 0) => s.chunks.slice(from + 1).map((t, i) => t - (s.chunks[from + i] as number));
const median = (values: number[]) => summarize(values).p50;

/**
 * 7 streams decode; once each has 16 tokens, a 1,000-token prompt arrives. Without the newcomer
 * (the control), the same streams show the gaps this machine gives a decode alone.
 */
async function mixedLoad(base: string, model: string, newcomerArrives = true) {
  const idle = await stream(base, model, freshPrompt(LONG_PROMPT), 8);
  const runsBefore = await engineRuns(base, model);
  let warmed = 0;
  let release: () => void = () => {};
  const allWarm = new Promise<void>((r) => (release = r));
  const started = performance.now();
  const running = Array.from({ length: 7 }, () =>
    stream(base, model, freshPrompt(128), 160, {}, (count) => {
      if (count === 16 && ++warmed === 7) release();
    }),
  );
  await allWarm;
  const newcomer = newcomerArrives ? await stream(base, model, freshPrompt(LONG_PROMPT), 8) : undefined;
  const streams = await Promise.all(running);
  const wall = performance.now() - started;
  const runs = await engineRuns(base, model, runsBefore);
  const streamGaps = streams.flatMap((s) => gaps(s, 15));
  const tokens = streams.reduce((n, s) => n + s.completionTokens, 0) + (newcomer?.completionTokens ?? 0);
  return {
    median_gap_ms: median(streamGaps),
    max_gap_ms: Math.max(...streamGaps),
    p99_gap_ms: summarize(streamGaps).p99,
    decode_run_ms: runs.decode,
    decode_with_chunk_run_ms: runs.decode_with_chunk,
    newcomer_ttft_ms: newcomer ? ttft(newcomer) : NaN,
    idle_ttft_ms: ttft(idle),
    aggregate_tok_s: (tokens / wall) * 1000,
  };
}

type RunMeans = Record<'decode' | 'decode_with_chunk', number> & { text: string };

/**
 * The server's engine-run counters for a model (/metrics); given an earlier reading, the mean run
 * of each kind since then, in ms (NaN for a kind that did not run).
 */
async function engineRuns(base: string, model: string, since?: RunMeans): Promise<RunMeans> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (t: string, name: string, kind: string) => sample(t, name, { model_name: model, kind }) ?? 0;
  const mean = (kind: string) => {
    if (!since) return NaN;
    const runs = read(text, 'ovserve:engine_runs_total', kind) - read(since.text, 'ovserve:engine_runs_total', kind);
    return runs > 0 ? ((read(text, 'ovserve:engine_run_seconds_total', kind) - read(since.text, 'ovserve:engine_run_seconds_total', kind)) / runs) * 1000 : NaN;
  };
  return { text, decode: mean('decode'), decode_with_chunk: mean('decode_with_chunk') };
}

/** 32 requests of 128 prompt + 64 output tokens on 8 loops. */
async function closedLoopC8(base: string, model: string) {
  const ttfts: number[] = [];
  const tpots: number[] = [];
  await closedLoop(8, 32, async () => {
    const s = await stream(base, model, freshPrompt(128), 64);
    ttfts.push(ttft(s));
    const g = gaps(s);
    tpots.push(g.reduce((a, b) => a + b, 0) / g.length);
  });
  const t = summarize(ttfts);
  const p = summarize(tpots);
  return { ttft_p50_ms: t.p50, ttft_p99_ms: t.p99, tpot_p50_ms: p.p50, tpot_p99_ms: p.p99 };
}

/** 16 requests in turn, a shared 1,000-token system prompt and their own 16 tokens. */
async function sharedPrefix(base: string, model: string) {
  const system = freshPrompt(LONG_PROMPT);
  const ttfts: number[] = [];
  for (let i = 0; i < 16; i++) ttfts.push(ttft(await stream(base, model, [...system, ...freshPrompt(16)], 4)));
  return { first_ttft_ms: ttfts[0] as number, later_ttft_ms: median(ttfts.slice(1)) };
}

/** A prompt that repeats itself (a block of code quoted twice, then its start again). */
function repetitivePrompt(): number[] {
  const block = freshPrompt(40);
  return [...block, ...freshPrompt(8), ...block, ...freshPrompt(8), ...block.slice(0, 20)];
}

async function promptLookup(base: string, model: string, assistant: number) {
  let tokens = 0;
  let ms = 0;
  for (let i = 0; i < 4; i++) {
    const s = await stream(base, model, repetitivePrompt(), 128, { num_assistant_tokens: assistant, max_ngram_size: 3 });
    tokens += s.completionTokens;
    ms += (s.chunks.at(-1) as number) - s.started;
  }
  return { tok_s: (tokens / ms) * 1000 };
}

async function quiet(): Promise<void> {
  for (let i = 0; i < 30 && (loadavg()[0] as number) > 1.5; i++) await new Promise((r) => setTimeout(r, 2000));
}

async function main() {
  ensureDecoderFixture();
  const model = { task: 'text-generation', path: MODEL_DIR, max_running_sequences: 8, max_queued_sequences: 256 };
  const server = await startServerProcess(
    {
      models: [
        { ...model, name: 'policies', ...(STEP_TOKENS ? { max_step_tokens: STEP_TOKENS } : {}) },
        { ...model, name: 'whole', max_step_tokens: 1_000_000, prefix_cache_tokens: 0 },
        ...EXTRA_STEP_TOKENS.map((budget) => ({ ...model, name: `chunked-${budget}`, max_step_tokens: budget })),
        ...(PROBE ? [{ ...model, name: 'chunked-nocache', ...(STEP_TOKENS ? { max_step_tokens: STEP_TOKENS } : {}), prefix_cache_tokens: 0 }] : []),
      ],
    },
    WORK_DIR,
    PORT,
  );
  const results: Record<string, Array<Record<string, number>>> = { mixed_chunked: [], mixed_whole: [], mixed_control: [], c8_chunked: [], c8_whole: [], prefix_cached: [], prefix_cold: [], lookup_on: [], lookup_off: [] };
  for (const budget of EXTRA_STEP_TOKENS) for (const key of [`mixed_chunked_${budget}`, `c8_chunked_${budget}`]) results[key] = [];
  try {
    // Warm both models (first runs pay for allocation).
    for (const m of ['policies', 'whole', ...EXTRA_STEP_TOKENS.map((b) => `chunked-${b}`)]) await stream(server.url, m, freshPrompt(64), 8);
    if (PROBE) {
      for (let r = 0; r < ROUNDS; r++) {
        for (const m of ['policies', 'chunked-nocache', 'whole']) console.log(m, JSON.stringify(await closedLoopC8(server.url, m)));
      }
      return;
    }
    for (let r = 0; r < ROUNDS; r++) {
      await quiet();
      results.mixed_chunked!.push(await mixedLoad(server.url, 'policies'));
      results.mixed_whole!.push(await mixedLoad(server.url, 'whole'));
      for (const budget of EXTRA_STEP_TOKENS) results[`mixed_chunked_${budget}`]!.push(await mixedLoad(server.url, `chunked-${budget}`));
      results.mixed_control!.push(await mixedLoad(server.url, 'policies', false));
      results.c8_chunked!.push(await closedLoopC8(server.url, 'policies'));
      results.c8_whole!.push(await closedLoopC8(server.url, 'whole'));
      for (const budget of EXTRA_STEP_TOKENS) results[`c8_chunked_${budget}`]!.push(await closedLoopC8(server.url, `chunked-${budget}`));
      results.prefix_cached!.push(await sharedPrefix(server.url, 'policies'));
      results.prefix_cold!.push(await sharedPrefix(server.url, 'whole'));
      results.lookup_on!.push(await promptLookup(server.url, 'whole', 5));
      results.lookup_off!.push(await promptLookup(server.url, 'whole', 0));
      console.log(`round ${r + 1}/${ROUNDS} done`);
    }
  } finally {
    await server.stop();
  }
  /** The median over rounds of each figure. */
  const med = (key: string) => {
    const rows = results[key] as Array<Record<string, number>>;
    return Object.fromEntries(Object.keys(rows[0] as object).map((k) => [k, median(rows.map((row) => row[k] as number))]));
  };
  const mc = med('mixed_chunked');
  const mw = med('mixed_whole');
  const mn = med('mixed_control');
  const cc = med('c8_chunked');
  const cw = med('c8_whole');
  const pc = med('prefix_cached');
  const pw = med('prefix_cold');
  const lon = med('lookup_on');
  const loff = med('lookup_off');
  const ms = (x: number | undefined) => round(x as number, 0);
  /** A mixed-load row; the control has no newcomer, so no TTFT columns. */
  const mixedRow = (row: string, m: Record<string, number>, newcomer = true): Row => ({
    row,
    'median gap ms': ms(m.median_gap_ms),
    'max gap ms': ms(m.max_gap_ms),
    'max/median': round((m.max_gap_ms as number) / (m.median_gap_ms as number), 2),
    'newcomer TTFT ms': newcomer ? ms(m.newcomer_ttft_ms) : '',
    'idle TTFT ms': newcomer ? ms(m.idle_ttft_ms) : '',
    'TTFT/idle': newcomer ? round((m.newcomer_ttft_ms as number) / (m.idle_ttft_ms as number), 2) : '',
    'tok/s': round(m.aggregate_tok_s as number),
    'p99 gap/median': round((m.p99_gap_ms as number) / (m.median_gap_ms as number), 2),
    'decode run ms': round(m.decode_run_ms as number, 1),
    'with chunk ms': newcomer ? round(m.decode_with_chunk_run_ms as number, 1) : '',
  });
  const rows: Row[] = [
    mixedRow(`mixed load, chunked (max_step_tokens ${STEP_TOKENS ?? 'default'})`, mc),
    ...EXTRA_STEP_TOKENS.map((budget) => mixedRow(`mixed load, chunked (max_step_tokens ${budget})`, med(`mixed_chunked_${budget}`))),
    mixedRow('control: the 7 streams, no newcomer', mn, false),
    mixedRow('mixed load, whole prefill', mw),
  ];
  const loopRow = (row: string, c: Record<string, number>): Row => ({
    row,
    'TTFT p50': ms(c.ttft_p50_ms),
    'TTFT p99': ms(c.ttft_p99_ms),
    'TTFT p99/p50': round((c.ttft_p99_ms as number) / (c.ttft_p50_ms as number), 2),
    'TPOT p50': ms(c.tpot_p50_ms),
    'TPOT p99': ms(c.tpot_p99_ms),
    'TPOT p99/p50': round((c.tpot_p99_ms as number) / (c.tpot_p50_ms as number), 2),
  });
  const loop: Row[] = [
    loopRow('closed loop c8, chunked', cc),
    ...EXTRA_STEP_TOKENS.map((budget) => loopRow(`closed loop c8, chunked (${budget})`, med(`c8_chunked_${budget}`))),
    loopRow('closed loop c8, whole', cw),
  ];
  const other: Row[] = [
    { row: 'shared 1,000-token prefix, 16 requests', 'cache on ms': ms(pc.later_ttft_ms), 'cache off ms': ms(pw.later_ttft_ms), ratio: round((pc.later_ttft_ms as number) / (pw.later_ttft_ms as number), 3), goal: '<= 0.3' },
    { row: 'prompt lookup, repetitive prompt, c1 tok/s', 'cache on ms': '', 'cache off ms': '', ratio: round((lon.tok_s as number) / (loff.tok_s as number), 2), goal: `${round(lon.tok_s as number)} vs ${round(loff.tok_s as number)} tok/s` },
  ];
  console.log(`\n${PRESET} fp32, fused; medians of ${ROUNDS} rounds\n`);
  printTable(rows);
  console.log('');
  printTable(loop);
  console.log('');
  printTable(other);
  const summary = {
    gap_max_over_median: (mc.max_gap_ms as number) / (mc.median_gap_ms as number),
    control_gap_max_over_median: (mn.max_gap_ms as number) / (mn.median_gap_ms as number),
    gap_p99_over_median: (mc.p99_gap_ms as number) / (mc.median_gap_ms as number),
    control_gap_p99_over_median: (mn.p99_gap_ms as number) / (mn.median_gap_ms as number),
    chunk_run_over_decode_run: (mc.decode_with_chunk_run_ms as number) / (mc.decode_run_ms as number),
    newcomer_ttft_over_idle: (mc.newcomer_ttft_ms as number) / (mc.idle_ttft_ms as number),
    tok_s_chunked_over_whole: (mc.aggregate_tok_s as number) / (mw.aggregate_tok_s as number),
    c8_ttft_p99_over_p50: (cc.ttft_p99_ms as number) / (cc.ttft_p50_ms as number),
    c8_tpot_p99_over_p50: (cc.tpot_p99_ms as number) / (cc.tpot_p50_ms as number),
    prefix_warm_over_cold: (pc.later_ttft_ms as number) / (pw.later_ttft_ms as number),
    lookup_speedup: (lon.tok_s as number) / (loff.tok_s as number),
  };
  console.log('\nratios:', Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, round(v, 2)])));
  console.log(`results: ${writeResults('scheduling', { model: PRESET, rounds: ROUNDS, summary, medians: { mc, mw, mn, cc, cw, pc, pw, lon, loff, ...Object.fromEntries(EXTRA_STEP_TOKENS.flatMap((b) => [[`mixed_chunked_${b}`, med(`mixed_chunked_${b}`)], [`c8_chunked_${b}`, med(`c8_chunked_${b}`)]])) }, raw: results })}`);
}

await main();
