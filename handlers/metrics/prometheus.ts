// Prometheus metrics with prom-client, named after vLLM's (`vllm:` becomes `ovserve:`) so existing
// dashboards fit: the runtime's reports (RuntimeMetrics) become counters and histograms, levels
// (running and waiting sequences, batch counters) are read from the runtime at scrape time, and
// a middleware counts HTTP requests by route and status.
import type { MiddlewareHandler } from 'hono';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Runtime, RuntimeMetrics, SchedulerStats } from '../../runtime/index.ts';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const TPOT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5];
type RunKind = keyof SchedulerStats['seconds'];
const RUN_KINDS: Record<RunKind, string> = { prefill: 'prefill', decode: 'decode', decodeWithChunk: 'decode_with_chunk' };
const LATENCY_BUCKETS = [0.01, 0.05, 0.1, 0.3, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60];

export interface PrometheusMetrics {
  registry: Registry;
  /** What the runtime reports into. */
  runtime: RuntimeMetrics;
  /** Counts every HTTP request by matched route, method and status. */
  http: MiddlewareHandler;
  /** Reads the runtime's levels at each scrape (call once the runtime exists). */
  observe(runtime: Runtime): void;
}

export function createPrometheusMetrics(): PrometheusMetrics {
  const registry = new Registry();
  const model = ['model_name'] as const;
  const at = { registers: [registry] };
  const info = new Gauge({ name: 'ovserve:model_info', help: 'Each configured model (1 once loaded), with its task and engine.', labelNames: ['model_name', 'task', 'engine'], ...at });
  const loadSeconds = new Gauge({ name: 'ovserve:model_load_seconds', help: 'How long each model took to load.', labelNames: model, ...at });
  const promptTokens = new Counter({ name: 'ovserve:prompt_tokens_total', help: 'Prompt tokens of finished or ended generations.', labelNames: model, ...at });
  const generationTokens = new Counter({ name: 'ovserve:generation_tokens_total', help: 'Tokens generated.', labelNames: model, ...at });
  const requests = new Counter({ name: 'ovserve:request_success_total', help: 'Generations by how they ended: finished, cancelled (the client left) or failed.', labelNames: ['model_name', 'status'], ...at });
  const ttft = new Histogram({ name: 'ovserve:time_to_first_token_seconds', help: 'Time from a generation request to its first token.', labelNames: model, buckets: TTFT_BUCKETS, ...at });
  const tpot = new Histogram({ name: 'ovserve:time_per_output_token_seconds', help: 'Mean time between output tokens of a generation.', labelNames: model, buckets: TPOT_BUCKETS, ...at });
  const e2e = new Histogram({ name: 'ovserve:e2e_request_latency_seconds', help: 'Time from a generation request to its last token.', labelNames: model, buckets: LATENCY_BUCKETS, ...at });
  const errors = new Counter({ name: 'ovserve:request_errors_total', help: 'Requests the runtime refused or ended, by kind (queue_full is a 429, cancelled a client that left).', labelNames: ['model_name', 'task', 'kind'], ...at });
  const httpRequests = new Counter({ name: 'ovserve:http_requests_total', help: 'HTTP requests by matched route, method and status.', labelNames: ['route', 'method', 'status'], ...at });
  const httpSeconds = new Histogram({ name: 'ovserve:http_request_duration_seconds', help: 'HTTP request duration until the response starts (streams: until headers).', labelNames: ['route', 'method'], buckets: LATENCY_BUCKETS, ...at });

  let source: Runtime | undefined;
  /** Levels read from the runtime at scrape time, per loaded model of a task and any further labels. */
  const levels = (name: string, help: string, labels: string[], read: (runtime: Runtime, model: string, task: string) => Array<[Record<string, string>, number]> | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: [...model, ...labels],
      ...at,
      collect() {
        this.reset();
        for (const m of source?.listModels() ?? []) {
          if (m.created === 0 || !source) continue;
          for (const [extra, value] of read(source, m.name, m.task) ?? []) this.set({ model_name: m.name, ...extra }, value);
        }
      },
    });
  /** One level per loaded model. */
  const level = (name: string, help: string, read: (runtime: Runtime, model: string, task: string) => number | undefined) =>
    levels(name, help, [], (r, m, t) => {
      const value = read(r, m, t);
      return value === undefined ? undefined : [[{}, value]];
    });
  const stats = <T>(read: () => T) => {
    try {
      return read();
    } catch {
      return undefined; // a model that is closing or has no such counters
    }
  };
  const generation = (runtime: Runtime, name: string, task: string) => (task === 'text-generation' ? stats(() => runtime.generationStats(name)) : undefined);
  const batches = (runtime: Runtime, name: string, task: string) => (task === 'text-generation' ? undefined : (stats(() => runtime.batchStats(name)) as Record<string, number> | undefined));
  level('ovserve:num_requests_running', 'Sequences decoding now (continuous batching).', (r, m, t) => generation(r, m, t)?.running);
  level('ovserve:num_requests_waiting', 'Requests waiting to start.', (r, m, t) => generation(r, m, t)?.waiting);
  level('ovserve:decode_steps', 'Decode steps run so far (one step advances every running sequence).', (r, m, t) => generation(r, m, t)?.steps);
  level('ovserve:batch_runs', 'Encoder and tensor models: batches run so far; images: denoising steps run.', (r, m, t) => batches(r, m, t)?.runs ?? batches(r, m, t)?.steps);
  level('ovserve:batch_sequences', 'Encoder and tensor models: inputs batched so far (over batch_runs: the mean batch size); images: images made.', (r, m, t) => batches(r, m, t)?.sequences ?? batches(r, m, t)?.images);
  level('ovserve:encoder_padding_ratio', 'Encoders: the share of the tokens run that were padding (1 - real / padded tokens, over all runs so far).', (r, m, t) => {
    const b = batches(r, m, t);
    return b && typeof b.paddedTokens === 'number' && b.paddedTokens > 0 && (t === 'embeddings' || t === 'rerank') ? 1 - (b.tokens as number) / b.paddedTokens : undefined;
  });
  level('ovserve:kv_cache_usage_perc', 'KV positions held (rows x the longest row) over what max_kv_tokens (or max_running_sequences x the context) allows, 0..1.', (r, m, t) => {
    const g = generation(r, m, t);
    return g && g.kvCapacity > 0 ? g.kvTokens / g.kvCapacity : undefined;
  });
  level('ovserve:num_preemptions_total', 'Sequences preempted (KV freed, recomputed later) to stay within the KV budget.', (r, m, t) => generation(r, m, t)?.preemptions);
  level('ovserve:prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache.', (r, m, t) => generation(r, m, t)?.prefixQueriedTokens);
  level('ovserve:prefix_cache_hits_total', 'Prompt tokens found in the prefix cache (not computed).', (r, m, t) => generation(r, m, t)?.cachedTokens);
  level('ovserve:prefill_chunks_total', "Prompt chunks fed over a row's cache (chunked prefill, prefix-cache remainders).", (r, m, t) => generation(r, m, t)?.chunks);
  level('ovserve:spec_decode_num_draft_tokens_total', 'Tokens proposed by prompt lookup.', (r, m, t) => generation(r, m, t)?.proposedTokens);
  level('ovserve:spec_decode_num_accepted_tokens_total', 'Proposed tokens the model accepted.', (r, m, t) => generation(r, m, t)?.acceptedTokens);
  /** Per model and kind of engine run: the scheduler's run counts, or the seconds they took. */
  const byRun = (name: string, help: string, read: (g: SchedulerStats) => Record<RunKind, number>) =>
    levels(name, help, ['kind'], (r, m, t) => {
      const g = generation(r, m, t);
      return g && Object.entries(read(g)).map(([kind, value]) => [{ kind: RUN_KINDS[kind as RunKind] }, value]);
    });
  byRun('ovserve:engine_runs_total', 'Generation engine runs by what they ran: prefill (prompts, and chunks on their own), decode, decode_with_chunk (a prompt chunk rode in the decode run).', (g) => ({
    prefill: g.prefills + g.chunks - g.sharedChunks,
    decode: g.steps - g.sharedChunks,
    decodeWithChunk: g.sharedChunks,
  }));
  byRun('ovserve:engine_run_seconds_total', 'Wall seconds of those runs (over engine_runs_total: the mean run of each kind, what a chunk adds to the streams\' step).', (g) => g.seconds);
  level('ovserve:largest_batch', 'The largest batch run so far.', (r, m, t) => batches(r, m, t)?.largestBatch ?? generation(r, m, t)?.largestDecodeBatch);

  return {
    registry,
    observe(runtime) {
      source = runtime;
    },
    runtime: {
      modelLoaded(name, task, engine, seconds) {
        info.set({ model_name: name, task, engine }, 1);
        loadSeconds.set({ model_name: name }, seconds);
      },
      firstToken: (name, seconds) => ttft.observe({ model_name: name }, seconds),
      generationEnded(name, outcome) {
        promptTokens.inc({ model_name: name }, outcome.promptTokens);
        generationTokens.inc({ model_name: name }, outcome.completionTokens);
        requests.inc({ model_name: name, status: outcome.status });
        e2e.observe({ model_name: name }, outcome.seconds);
        if (outcome.secondsPerToken !== undefined) tpot.observe({ model_name: name }, outcome.secondsPerToken);
      },
      requestFailed: (name, task, kind) => errors.inc({ model_name: name, task, kind }),
    },
    http: async (c, next) => {
      const started = performance.now();
      await next();
      const route = c.req.routePath || 'unmatched';
      httpRequests.inc({ route, method: c.req.method, status: String(c.res.status) });
      httpSeconds.observe({ route, method: c.req.method }, (performance.now() - started) / 1000);
    },
  };
}
