// The peer: node-llama-cpp (llama.cpp, CPU) on GGUF exports of the benchmark fixture — greedy decoding for the
// correctness check, and the throughput / latency measurement that bench/llama-cpp.ts and bench/generate.ts report.
import { getLlama, LlamaLogLevel, type Llama, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { dirname } from 'node:path';
import { exportGgufs, GGUF_VARIANTS, type GgufVariant } from './gguf-export.ts';
import type { GreedyRun } from './greedy-check.ts';
import { otherCpuShare } from './other-cpu.ts';
import type { Row } from './report.ts';
import { round, summarize } from './stats.ts';

/** Request i's prompt, as bench/generate.ts makes it: distinct-ish ids clear of the special tokens 0-2. */
export const defaultPromptIds = (i: number, length = 128) => Array.from({ length }, (_, t) => 3 + ((i * 7919 + t * 104729) % 49000));

let llamaPromise: Promise<Llama> | undefined;
/** One llama.cpp instance per process: the prebuilt CPU binary, never a source build. */
export function loadLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  return llamaPromise;
}

/** Generates `count` tokens from `sequence` after `prompt` (greedy; EOS is yielded, not a stop), stamping each one. */
async function decode(sequence: LlamaContextSequence, prompt: number[], count: number): Promise<{ tokens: number[]; stamps: number[] }> {
  const tokens: number[] = [];
  const stamps: number[] = [];
  if (count <= 0) return { tokens, stamps };
  for await (const token of sequence.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
    stamps.push(performance.now());
    tokens.push(token);
    if (tokens.length >= count) break;
  }
  return { tokens, stamps };
}

/** Greedy decoding of a GGUF file: `prompt` as given (no BOS added), `count` new tokens, with each step's distribution. */
export async function llamaCppGreedy(ggufFile: string, prompt: number[], count: number, threads = 2): Promise<GreedyRun> {
  const llama = await loadLlama();
  const model = await llama.loadModel({ modelPath: ggufFile });
  try {
    const context = await model.createContext({ contextSize: prompt.length + count + 16, sequences: 1, threads: { ideal: threads, min: threads } });
    try {
      const run: GreedyRun = { ids: [], probabilities: [] };
      for await (const step of context.getSequence().evaluateWithMetadata(prompt as Token[], { probabilities: true }, { temperature: 0, yieldEogToken: true })) {
        let vocab = 0;
        for (const token of step.probabilities.keys()) vocab = Math.max(vocab, token + 1);
        const p = new Float32Array(vocab);
        for (const [token, probability] of step.probabilities) p[token] = probability;
        run.ids.push(step.token);
        run.probabilities.push(p);
        if (run.ids.length >= count) break;
      }
      return run;
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

export interface LlamaCppMeasureOptions {
  /** The fixture's built folder (tokenizer.json, config.json, onnx/model.onnx). */
  modelDir: string;
  /** Where the GGUF files go (and are reused from); default: modelDir's parent. */
  ggufDir?: string;
  /** Fixture preset the folder was built from; default 'smollm2-135m-chat'. */
  preset?: string;
  variants?: readonly GgufVariant[];
  threads?: readonly number[];
  concurrency?: readonly number[];
  promptTokens?: number;
  outputTokens?: number;
  /** Request i's prompt ids; default defaultPromptIds (bench/generate.ts's). */
  promptIds?: (i: number) => number[];
  /** Rounds per concurrency-1 configuration (more samples for its percentiles); default 2. */
  singleRounds?: number;
  log?: (line: string) => void;
}

/** Samples the process RSS every 25 ms; `stop` returns the peak in bytes. */
function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const sample = () => void (peak = Math.max(peak, process.memoryUsage.rss()));
  const timer = setInterval(sample, 25);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/**
 * `concurrency` sequences of one context: all prompts are queued at once, so llama.cpp prefills them in one batch
 * (batchSize fits them all), then node-llama-cpp's default batching decodes the sequences' next tokens together.
 */
async function measureOne(model: LlamaModel, threads: number, concurrency: number, rounds: number, o: Required<Pick<LlamaCppMeasureOptions, 'promptTokens' | 'outputTokens' | 'promptIds'>>) {
  const context = await model.createContext({
    contextSize: o.promptTokens + o.outputTokens + 16,
    sequences: concurrency,
    batchSize: Math.max(512, concurrency * o.promptTokens),
    threads: { ideal: threads, min: threads },
  });
  try {
    const sequences = Array.from({ length: concurrency }, () => context.getSequence());
    // Warm-up: a short prompt and a few tokens on every sequence, then a clean KV cache.
    await Promise.all(sequences.map((s, i) => decode(s, o.promptIds(90000 + i).slice(0, 16), 4)));
    await Promise.all(sequences.map((s) => s.clearHistory()));
    const ttft: number[] = [];
    const tpot: number[] = [];
    let tokens = 0;
    let wallMs = 0;
    for (let r = 0; r < rounds; r++) {
      const started = performance.now();
      const runs = await Promise.all(sequences.map((s, i) => decode(s, o.promptIds(1000 * concurrency + r * concurrency + i), o.outputTokens)));
      wallMs += performance.now() - started;
      for (const { tokens: ids, stamps } of runs) {
        tokens += ids.length;
        ttft.push((stamps[0] as number) - started);
        if (stamps.length > 1) tpot.push(((stamps.at(-1) as number) - (stamps[0] as number)) / (stamps.length - 1));
      }
      await Promise.all(sequences.map((s) => s.clearHistory()));
    }
    return { tokensPerSecond: (tokens * 1000) / wallMs, ttft: summarize(ttft), tpot: summarize(tpot), flashAttention: context.flashAttention };
  } finally {
    await context.dispose();
  }
}

/**
 * Exports the fixture to GGUF if needed, then for each variant x threads x concurrency measures greedy generation
 * (promptTokens in, outputTokens out, EOS ignored) on node-llama-cpp. One row per configuration: aggregate tokens/s,
 * TTFT and TPOT percentiles over the sequences, and the process's peak RSS (and its growth over the pre-load RSS).
 */
export async function measureLlamaCpp(options: LlamaCppMeasureOptions): Promise<Row[]> {
  const log = options.log ?? console.log;
  const o = {
    promptTokens: options.promptTokens ?? 128,
    outputTokens: options.outputTokens ?? 128,
    promptIds: options.promptIds ?? ((i: number) => defaultPromptIds(i, options.promptTokens ?? 128)),
  };
  const ggufDir = options.ggufDir ?? dirname(options.modelDir);
  const variants = options.variants ?? GGUF_VARIANTS;
  const paths = exportGgufs(options.preset ?? 'smollm2-135m-chat', options.modelDir, ggufDir, variants, log);
  const llama = await loadLlama();
  const rows: Row[] = [];
  for (const variant of variants) {
    const baseline = process.memoryUsage.rss();
    const model = await llama.loadModel({ modelPath: paths[variant] });
    try {
      for (const threads of options.threads ?? [1, 2]) {
        for (const concurrency of options.concurrency ?? [1, 8]) {
          const rss = rssSampler();
          const busy = otherCpuShare();
          const m = await measureOne(model, threads, concurrency, concurrency === 1 ? (options.singleRounds ?? 2) : 1, o);
          const others = busy.stop();
          const peak = rss.stop();
          rows.push({
            path: `node-llama-cpp ${variant}, ${threads} thread${threads === 1 ? '' : 's'}`,
            weights: variant,
            threads,
            concurrency,
            'tokens/s': round(m.tokensPerSecond),
            'TTFT p50 ms': round(m.ttft.p50),
            'TTFT p99 ms': round(m.ttft.p99),
            'TPOT p50 ms': round(m.tpot.p50, 2),
            'TPOT p99 ms': round(m.tpot.p99, 2),
            'RSS MB': Math.round(peak / 2 ** 20),
            'RSS +MB': Math.round((peak - baseline) / 2 ** 20),
            // node-llama-cpp's default, "auto": llama.cpp turns flash attention on for this model on CPU.
            'flash attn': String(m.flashAttention),
            // Other work on the machine skews these numbers, llama.cpp's thread pool worst of all.
            'others CPU %': Math.round(100 * others),
          });
          log(JSON.stringify(rows.at(-1)));
        }
      }
    } finally {
      await model.dispose();
    }
  }
  return rows;
}
