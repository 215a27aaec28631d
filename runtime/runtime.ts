// createRuntime: loads every configured model once (warm) and routes neutral requests to them.
import type { RepositoryConfig } from './config.ts';
import { RuntimeError } from './errors.ts';
import { loadModel, type LoadedModel } from './task-registry.ts';
import type { Generator } from './tasks/generate.ts';
import type { DetokenizeRequest, TokenizeRequest, TokenizeResult, EmbedRequest, EmbedResult, GenerateRequest, Generation, ImageRequest, ImageResult, InferRequest, InferResult, ModelInfo, ModelMetadata, RerankRequest, RerankResult } from './types.ts';
import type { BatchStats } from './batching/encoder-queue.ts';
import type { SchedulerStats } from './batching/scheduler.ts';
import type { ModelTask } from './config.ts';
import { NO_METRICS, type RuntimeMetrics } from './metrics.ts';

export interface Runtime {
  /** Settles when every model has loaded (rejects with the first load failure). */
  readonly ready: Promise<void>;
  isReady(): boolean;
  /** Every configured model, loaded or not (created is 0 until loaded). */
  listModels(): ModelInfo[];
  embed(request: EmbedRequest): Promise<EmbedResult>;
  rerank(request: RerankRequest): Promise<RerankResult>;
  /**
   * Starts generating. Bad requests, unknown models and a full queue reject here, before any
   * output; failures after that come out of the stream.
   */
  generate(request: GenerateRequest): Promise<Generation>;
  /** Token ids of a text or chat, for any model with a tokenizer. */
  tokenize(request: TokenizeRequest): Promise<TokenizeResult>;
  /** Text of token ids, special tokens included. */
  detokenize(request: DetokenizeRequest): Promise<string>;
  /** Runs a tensor model on named tensors (the Open Inference Protocol's infer). */
  infer(request: InferRequest): Promise<InferResult>;
  /** Makes images with a text-to-image model (edits when the request carries an image). */
  generateImages(request: ImageRequest): Promise<ImageResult>;
  /** A loaded model's graph inputs and outputs; not_ready while it loads. */
  modelMetadata(name: string): ModelMetadata;
  /** The batching queue's counters for an embeddings, rerank or tensor model. */
  batchStats(model: string): Readonly<BatchStats>;
  /** The continuous-batching scheduler's counters for a text-generation model. */
  generationStats(model: string): Readonly<SchedulerStats>;
  /** Stops taking requests (they get not_ready), waits for running ones, frees the models. */
  close(): Promise<void>;
}

export interface RuntimeOptions {
  log?: (line: string) => void;
  /** Where the runtime reports loads, generations and refusals (default: nowhere). */
  metrics?: RuntimeMetrics;
}

export function createRuntime(config: RepositoryConfig, options: RuntimeOptions = {}): Runtime {
  const log = options.log ?? ((line: string) => console.log(line));
  const metrics = options.metrics ?? NO_METRICS;
  const loaded = new Map<string, LoadedModel>();
  const configured = new Map(config.models.map((m) => [m.name, m]));
  let loadedAll = false;
  let closing = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const ready = (async () => {
    // One model at a time keeps the memory peak of loading to one model.
    for (const entry of config.models) {
      const started = Date.now();
      const model = await loadModel(entry, log);
      loaded.set(entry.name, model);
      metrics.modelLoaded(entry.name, entry.task, model.info.engine, (Date.now() - started) / 1000);
      log(`${entry.name}: loaded ${entry.task} model on ${model.info.engine} in ${Date.now() - started} ms`);
    }
    loadedAll = true;
  })();
  ready.catch(() => {}); // observed by callers; never an unhandled rejection here

  function lookup<T extends ModelTask>(name: string, task: T): LoadedModel<T> {
    const entry = configured.get(name);
    if (!entry) {
      throw new RuntimeError('model_not_found', `The model '${name}' does not exist.`, { param: 'model' });
    }
    if (entry.task !== task) {
      throw new RuntimeError('wrong_task', `The model '${name}' serves ${entry.task}, not ${task}.`, { param: 'model' });
    }
    const model = loaded.get(name);
    if (closing || !model) {
      throw new RuntimeError('not_ready', closing ? 'The server is shutting down.' : `The model '${name}' is still loading.`, {
        retryAfterSeconds: 1,
      });
    }
    return model as LoadedModel<T>;
  }

  /** A model's tokenizer, whatever its task (tensor models have none). */
  function textOf(name: string) {
    const entry = configured.get(name);
    if (!entry) throw new RuntimeError('model_not_found', `The model '${name}' does not exist.`, { param: 'model' });
    const model = lookup(name, entry.task);
    if (!model.text) throw new RuntimeError('wrong_task', `The model '${name}' is a ${entry.task} model and has no tokenizer.`, { param: 'model' });
    return model.text;
  }

  /** Reports a runtime refusal or failure of a request to the metrics, and passes it on. */
  function reported(model: string, err: unknown): never {
    const entry = configured.get(model);
    if (entry && err instanceof RuntimeError) metrics.requestFailed(model, entry.task, err.kind);
    throw err;
  }

  async function track<T>(work: () => Promise<T>, model: string): Promise<T> {
    inFlight++;
    try {
      return await work().catch((err: unknown) => reported(model, err));
    } finally {
      if (--inFlight === 0) idle?.();
    }
  }

  return {
    ready,
    isReady: () => loadedAll && !closing,
    listModels: () =>
      config.models.map(
        (m) => loaded.get(m.name)?.info ?? { name: m.name, task: m.task, created: 0, engine: 'onnxruntime', maxLength: 0 },
      ),
    embed: (request) => track(async () => lookup(request.model, 'embeddings').service.embed(request), request.model),
    rerank: (request) => track(async () => lookup(request.model, 'rerank').service.rerank(request), request.model),
    tokenize: async (request) => textOf(request.model).tokenize(request),
    detokenize: async (request) => textOf(request.model).detokenize(request),
    infer: (request) => track(async () => lookup(request.model, 'tensor').service.infer(request), request.model),
    generateImages: (request) => track(async () => lookup(request.model, 'text-to-image').service.generate(request), request.model),
    modelMetadata(name) {
      const entry = configured.get(name);
      if (!entry) throw new RuntimeError('model_not_found', `The model '${name}' does not exist.`, { param: 'model' });
      const backend = lookup(name, entry.task).backends[0] as LoadedModel['backends'][number];
      return { name, task: entry.task, engine: backend.engine, inputs: backend.inputs, outputs: backend.outputs };
    },
    async generate(request) {
      const started = performance.now();
      let generator: Generator;
      try {
        generator = lookup(request.model, 'text-generation').service;
      } catch (err) {
        reported(request.model, err);
      }
      inFlight++;
      let counted = true;
      const done = () => {
        if (counted && --inFlight === 0) idle?.();
        counted = false;
      };
      let generation: Generation;
      try {
        generation = await generator.generate(request);
      } catch (err) {
        done();
        reported(request.model, err);
      }
      const model = request.model;
      return {
        ...generation,
        async *[Symbol.asyncIterator]() {
          let first: number | undefined;
          let last = started;
          let status: 'finished' | 'cancelled' | 'failed' = 'cancelled';
          try {
            for await (const event of generation) {
              if (event.type === 'delta' && event.tokenIds.length > 0) {
                last = performance.now();
                if (first === undefined) metrics.firstToken(model, ((first = last) - started) / 1000);
              }
              yield event;
            }
            status = 'finished';
          } catch (err) {
            status = err instanceof RuntimeError && err.kind === 'cancelled' ? 'cancelled' : 'failed';
            if (err instanceof RuntimeError) metrics.requestFailed(model, 'text-generation', err.kind);
            throw err;
          } finally {
            const tokens = generation.completionTokens();
            metrics.generationEnded(model, {
              promptTokens: generation.promptTokens,
              completionTokens: tokens,
              seconds: (last - started) / 1000,
              secondsPerToken: first !== undefined && tokens > 1 ? (last - first) / 1000 / (tokens - 1) : undefined,
              status,
            });
            done();
          }
        },
      };
    },
    batchStats(model) {
      const entry = configured.get(model);
      if (!entry) throw new RuntimeError('model_not_found', `The model '${model}' does not exist.`, { param: 'model' });
      const stats = lookup(model, entry.task).batchStats;
      if (!stats) throw new RuntimeError('wrong_task', `The model '${model}' is a ${entry.task} model and has no batching queue${entry.task === 'text-generation' ? '; see generationStats' : ''}.`, { param: 'model' });
      return stats() as BatchStats;
    },
    generationStats: (model) => lookup(model, 'text-generation').service.scheduler.stats,
    async close() {
      closing = true;
      if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
      await ready.catch(() => {});
      await Promise.all([...loaded.values()].flatMap((m) => m.backends.map((b) => b.dispose())));
      loaded.clear();
    },
  };
}
