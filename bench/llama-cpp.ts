// npx tsx bench/llama-cpp.ts — the peer on the same weights: the SmolLM2-135M-shaped fixture exported to GGUF
// (f32, q8_0, q4_0) and run by node-llama-cpp. First a correctness check (32 greedy ids from a fixed 16-token prompt
// against the ONNX model on onnxruntime), then 128-in / 128-out greedy generation at 1 and 2 threads,
// concurrency 1 and 8 (one context, 8 sequences). Writes bench/results/llama-cpp.json. LLAMA_CPP_CHECK_ONLY=1 stops
// after the check; BENCH_VARIANTS, BENCH_THREADS, BENCH_LEVELS and BENCH_OUTPUT_TOKENS narrow the grid.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ensureDecoderFixture, MODEL_DIR, PRESET, WORK_DIR } from './lib/decoder-fixture.ts';
import { exportGgufs, GGUF_VARIANTS, type GgufVariant } from './lib/gguf-export.ts';
import { compareGreedy, type GreedyComparison } from './lib/greedy-check.ts';
import { defaultPromptIds, llamaCppGreedy, measureLlamaCpp } from './lib/llama-cpp-peer.ts';
import { onnxGreedy } from './lib/onnx-greedy.ts';
import { printTable, writeResults } from './lib/report.ts';

const CHECK_PROMPT = defaultPromptIds(42, 16);
const CHECK_TOKENS = 32;
const PROMPT_TOKENS = 128;
const OUTPUT_TOKENS = Number(process.env.BENCH_OUTPUT_TOKENS ?? 128);
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').map((s) => s.trim());
const variantOf = (s: string): GgufVariant => {
  if (!(GGUF_VARIANTS as readonly string[]).includes(s)) throw new Error(`unknown GGUF variant "${s}"; known: ${GGUF_VARIANTS.join(', ')}`);
  return s as GgufVariant;
};
const VARIANTS = list('BENCH_VARIANTS', GGUF_VARIANTS.join(',')).map(variantOf);
const THREADS = list('BENCH_THREADS', '1,2').map(Number);
const LEVELS = list('BENCH_LEVELS', '1,8').map(Number);

/** The f32 export must decode exactly what the ONNX model does; the quantized ones are reported, not judged. */
async function correctness() {
  const paths = exportGgufs(PRESET, MODEL_DIR, WORK_DIR);
  const reference = await onnxGreedy(MODEL_DIR, CHECK_PROMPT, CHECK_TOKENS);
  const result: Record<string, unknown> = { prompt: CHECK_PROMPT, onnxruntime_ids: reference.ids };
  let f32: GreedyComparison | undefined;
  for (const variant of GGUF_VARIANTS) {
    const run = await llamaCppGreedy(paths[variant], CHECK_PROMPT, CHECK_TOKENS);
    const c = compareGreedy(reference, run);
    if (variant === 'f32') f32 = c;
    result[variant] = { ids: run.ids, agreeing_prefix: c.agreeingPrefix, identical: c.identical, max_probability_delta: c.maxProbabilityDelta, min_reference_top2_gap: c.minReferenceTop2Gap };
    console.log(
      `${variant}: ${c.agreeingPrefix}/${CHECK_TOKENS} leading greedy ids agree with onnxruntime${c.identical ? ' (identical)' : ''}; ` +
        `max |Δp| ${c.maxProbabilityDelta.toExponential(2)}, smallest top-2 gap ${c.minReferenceTop2Gap.toExponential(2)} over the steps compared`,
    );
  }
  console.log(`onnxruntime ids: ${reference.ids.join(' ')}`);
  return { result, f32: f32 as GreedyComparison };
}

async function main() {
  const started = performance.now();
  const loadBefore = loadavg()[0] as number;
  ensureDecoderFixture();
  const { result: check, f32 } = await correctness();
  if (!f32.identical) console.error(`MISMATCH: the f32 GGUF agrees with onnxruntime for only ${f32.agreeingPrefix}/${CHECK_TOKENS} tokens`);
  if (!f32.identical) process.exitCode = 1;
  if (process.env.LLAMA_CPP_CHECK_ONLY) return;
  const rows = await measureLlamaCpp({
    modelDir: MODEL_DIR,
    ggufDir: WORK_DIR,
    preset: PRESET,
    variants: VARIANTS,
    threads: THREADS,
    concurrency: LEVELS,
    promptTokens: PROMPT_TOKENS,
    outputTokens: OUTPUT_TOKENS,
  });
  printTable(rows);
  const file = writeResults('llama-cpp', {
    model: 'SmolLM2-135M shape, random weights, exported to GGUF',
    peer: 'node-llama-cpp 3.21.1 (prebuilt CPU binary)',
    prompt_tokens: PROMPT_TOKENS,
    output_tokens: OUTPUT_TOKENS,
    correctness: check,
    // The 1-minute load average at start and end: the numbers mean little on a machine that was busy.
    load_average: { start: loadBefore, end: loadavg()[0] },
    rows,
  });
  console.log(`wrote ${file} (${Math.round((performance.now() - started) / 1000)} s in all)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
