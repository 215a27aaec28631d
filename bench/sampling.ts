// npm run bench:sampling — one decode step's sampling over a 49,152-token row (temperature 0.8,
// top_p 0.9, with top_k 50 or min_p 0.05), per row: before (the sorting implementation, copied
// below: processor list plus sample()), and after, both as the processor list plus sample() and
// as sequence.ts runs it (the truncations chained, handing on their scan, then sampleRow), on
// the same rows, with a check that all three pick the same token.
import { loadavg } from 'node:os';
import { buildProcessors, buildTruncation, clampLogit, DEFAULT_SAMPLING, type SamplingParams } from '../runtime/generation/logits-processors.ts';
import { createRng, type Rng } from '../runtime/generation/rng.ts';
import { argmax, sample, sampleRow } from '../runtime/generation/sampler.ts';
import { before } from '../test/helpers/reference-sampling.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { round, summarize } from './lib/stats.ts';

const VOCAB = 49_152;
const ROWS = Number(process.env.BENCH_ROWS ?? 300);
const WARMUP = 40;


// ---- Rows and variants. ----

/** normal(0, 2.5) logits; "peaked" adds a few tokens far above the rest, as a confident model gives. */
function makeRows(peaked: boolean, seed: number): Float32Array[] {
  const rng = createRng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return Array.from({ length: ROWS + WARMUP }, () => {
    const row = Float32Array.from({ length: VOCAB }, () => normal() * 2.5);
    if (peaked) for (let j = 0; j < 4; j++) row[Math.floor(rng() * VOCAB)] = 9 + 2 * j;
    return row;
  });
}

const VARIANTS: Array<[string, Partial<SamplingParams>]> = [
  ['temperature 0.8 + top_p 0.9', { temperature: 0.8, topP: 0.9 }],
  ['+ top_k 50', { temperature: 0.8, topP: 0.9, topK: 50 }],
  ['+ min_p 0.05', { temperature: 0.8, topP: 0.9, minP: 0.05 }],
];

const VIEW = { generated: [] as number[], generatedCounts: new Map<number, number>(), seen: new Set<number>() };

/** Milliseconds (and CPU milliseconds) of one call, the first WARMUP rows not counted. */
function timer() {
  const wall: number[] = [];
  let cpu = 0;
  let calls = 0;
  return {
    time<T>(work: () => T): T {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const out = work();
      const ms = performance.now() - t0;
      const used = process.cpuUsage(cpu0);
      if (calls++ >= WARMUP) wall.push(ms), (cpu += used.user + used.system);
      return out;
    },
    report: () => ({ ...summarize(wall), cpu: cpu / 1000 / wall.length }),
  };
}

function measure(rows: Float32Array[], sampling: SamplingParams) {
  const old = before.processors(sampling);
  const list = buildProcessors(sampling);
  const truncate = buildTruncation(sampling);
  const timers = { before: timer(), list: timer(), step: timer() };
  for (const [r, row] of rows.entries()) {
    const x = row.slice();
    const y = row.slice();
    const z = row.slice();
    const expected = timers.before.time(() => {
      for (const step of old) step(x, VIEW);
      return before.sample(x, createRng(r));
    });
    const viaList = timers.list.time(() => {
      for (const step of list) step(y, VIEW);
      return sample(y, createRng(r));
    });
    const viaStep = timers.step.time(() => sampleRow(z, truncate(z), createRng(r)));
    if (viaList !== expected || viaStep !== expected) throw new Error(`row ${r}: after picked ${viaList} / ${viaStep}, before ${expected}`);
  }
  return { before: timers.before.report(), list: timers.list.report(), step: timers.step.report() };
}

const loadBefore = loadavg()[0] as number;
const rows: Row[] = [];
for (const [distribution, peaked] of [['normal(0, 2.5)', false], ['peaked', true]] as const) {
  const data = makeRows(peaked, peaked ? 2 : 1);
  for (const [variant, params] of VARIANTS) {
    const m = measure(data, { ...DEFAULT_SAMPLING, ...params });
    rows.push({
      distribution,
      variant,
      'before p50 ms': round(m.before.p50, 3),
      'before p99 ms': round(m.before.p99, 3),
      'list+sample p50 ms': round(m.list.p50, 3),
      'list+sample p99 ms': round(m.list.p99, 3),
      'step p50 ms': round(m.step.p50, 3),
      'step p99 ms': round(m.step.p99, 3),
      'step cpu ms': round(m.step.cpu, 3),
      'speed-up p50': `${round(m.before.p50 / m.list.p50, 1)}x / ${round(m.before.p50 / m.step.p50, 1)}x`,
    });
  }
}
const loadAfter = loadavg()[0] as number;

printTable(rows);
console.log('\nlist+sample: buildProcessors() then sample(); step: buildTruncation() then sampleRow(), as sequence.ts runs it');
console.log(`1-minute load average ${round(loadBefore, 2)} before, ${round(loadAfter, 2)} after (2 cores: above 2, rows wait for a core)`);
const file = writeResults('sampling', { vocab: VOCAB, rows_per_variant: ROWS, load_average: { before: loadBefore, after: loadAfter }, rows });
console.log(`results: ${file}`);
