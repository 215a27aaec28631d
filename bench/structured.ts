// npm run bench:structured — the cost of grammar-enforced output: streamed /v3/chat/completions at
// concurrency 8 on the SmolLM2-135M-shaped fixture, every request with a json_schema
// response_format, against the same requests unconstrained, in one run on one server. Reports
// tokens/s and TPOT and the ratio the goal is stated in (constrained / unconstrained >= 0.9).
//
// BENCH_REQUESTS=32  BENCH_ROUNDS=2  BENCH_QUANTIZE=none
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { grammarConstraint } from '../runtime/generation/grammar/grammar.ts';
import { enforceableSchema } from '../runtime/generation/grammar/json-schema.ts';
import { createXgrammarEngine } from '../runtime/generation/grammar/xgrammar.ts';
import { createTokenizer } from '../runtime/tokenizer.ts';
import { ensureDecoderFixture, MODEL_DIR, PRESET, WORK_DIR } from './lib/decoder-fixture.ts';
import { printTable, writeResults, type Row } from './lib/report.ts';
import { createStreamPoster, type StreamTiming } from './lib/sse-client.ts';
import { closedLoop, startServerProcess } from './lib/server-process.ts';
import { round, summarize } from './lib/stats.ts';

const PORT = Number(process.env.BENCH_PORT ?? 8393);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONCURRENCY = 8;
const OUTPUT_TOKENS = 128;

/** A long answer: twelve bounded strings, so constrained outputs run about as long as free ones. */
const SCHEMA = {
  type: 'object',
  properties: { notes: { type: 'array', items: { type: 'string', maxLength: 40 }, minItems: 12, maxItems: 12 }, done: { type: 'boolean' } },
  required: ['notes', 'done'],
};

/**
 * The mask alone, on this model's 49k vocabulary: mean ms per row and step to compute the allowed
 * set and apply it, over random walks through the grammar (no model run).
 */
async function maskCost(): Promise<{ msPerRowStep: number; steps: number }> {
  const read = (name: string) => JSON.parse(readFileSync(join(MODEL_DIR, name), 'utf8')) as object;
  const tokenizer = createTokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
  const engine = createXgrammarEngine(tokenizer.encodedVocabulary(), [2]);
  const compiled = await engine.compile({ kind: 'json_schema', schema: enforceableSchema(SCHEMA, 'outputFormat'), param: 'outputFormat' });
  const logits = new Float32Array(tokenizer.vocabSize);
  let spent = 0;
  let steps = 0;
  for (let walk = 0; walk < 4; walk++) {
    const constraint = grammarConstraint(await compiled.matcher());
    const generated: number[] = [];
    let seed = walk + 1;
    while (generated.length < 200) {
      logits.fill(0);
      const started = performance.now();
      constraint.apply(logits, { generated, generatedCounts: new Map(), seen: new Set() });
      spent += performance.now() - started;
      steps++;
      const allowed: number[] = [];
      for (let i = 0; i < logits.length; i++) if (logits[i] === 0) allowed.push(i);
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const token = allowed[seed % allowed.length] as number;
      generated.push(token);
      if (token === 2) break;
    }
    constraint.release();
  }
  return { msPerRowStep: spent / steps, steps };
}

async function main() {
  ensureDecoderFixture();
  const mask = await maskCost();
  console.log(`mask: ${round(mask.msPerRowStep, 3)} ms per row and step over ${mask.steps} steps`);
  const quantize = process.env.BENCH_QUANTIZE ?? 'none';
  const server = await startServerProcess(
    { models: [{ name: PRESET, task: 'text-generation', path: MODEL_DIR, quantize, max_running_sequences: CONCURRENCY, max_queued_sequences: 1024 }] },
    WORK_DIR,
    PORT,
  );
  const rows: Row[] = [];
  try {
    const post = createStreamPoster(server.url, 16);
    const ask = (i: number, constrained: boolean) =>
      post('/v3/chat/completions', {
        model: PRESET,
        messages: [{ role: 'user', content: `Write twelve short notes about topic number ${i}.` }],
        temperature: 1,
        seed: i,
        stream: true,
        stream_options: { include_usage: true },
        ...(constrained ? { response_format: { type: 'json_schema', json_schema: { name: 'notes', schema: SCHEMA } }, max_tokens: 600 } : { max_tokens: OUTPUT_TOKENS, ignore_eos: true }),
      });
    await ask(0, true); // warm-up: the grammar engine starts and the schema compiles
    await ask(0, false);
    // Alternate the two so drift on a noisy machine lands on both.
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      for (const constrained of round_ % 2 === 0 ? [false, true] : [true, false]) {
        const timings: StreamTiming[] = [];
        const { wallMs } = await closedLoop(CONCURRENCY, REQUESTS, async (i) => void timings.push(await ask(100 * round_ + i + 1, constrained)));
        const tokens = timings.reduce((n, t) => n + t.completionTokens, 0);
        const tpot = summarize(timings.map((t) => t.tpotMs));
        rows.push({ engine: `ovserve ${quantize} chat, ${constrained ? 'json_schema' : 'unconstrained'}`, round: round_ + 1, concurrency: CONCURRENCY, requests: REQUESTS, 'tokens/req': round(tokens / REQUESTS), 'tokens/s': round((tokens * 1000) / wallMs), 'TPOT p50 ms': round(tpot.p50, 2), 'TPOT p99 ms': round(tpot.p99, 2) });
        console.log(JSON.stringify(rows.at(-1)));
      }
    }
  } finally {
    await server.stop();
  }
  const mean = (constrained: boolean, key: string) => {
    const picked = rows.filter((r) => String(r.engine).endsWith(constrained ? 'json_schema' : 'unconstrained'));
    return picked.reduce((s, r) => s + (r[key] as number), 0) / picked.length;
  };
  const summary = {
    mask_ms_per_row_step: round(mask.msPerRowStep, 3),
    tokens_per_s_constrained_vs_free: round(mean(true, 'tokens/s') / mean(false, 'tokens/s'), 3),
    tpot_p50_free_vs_constrained: round(mean(false, 'TPOT p50 ms') / mean(true, 'TPOT p50 ms'), 3),
  };
  printTable(rows);
  console.log(`\nratios (same run): ${JSON.stringify(summary)}`);
  const file = writeResults('structured', { model: `${PRESET} (random weights)`, quantize, concurrency: CONCURRENCY, requests: REQUESTS, schema: SCHEMA, rows, summary });
  console.log(`wrote ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
