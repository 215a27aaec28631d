// A scripted Runtime for handler tests: records the neutral requests, answers what the test says.
import { RuntimeError, type EmbedRequest, type EmbedResult, type GenerateRequest, type Generation, type GenerationEvent, type InferRequest, type InferResult, type ModelInfo, type ModelMetadata, type RerankRequest, type RerankResult, type Runtime, type SchedulerStats } from '../../runtime/index.ts';

export interface FakeRuntime extends Runtime {
  calls: { embed: EmbedRequest[]; rerank: RerankRequest[]; generate: GenerateRequest[]; infer: InferRequest[] };
  models: ModelInfo[];
  ready_: boolean;
  /** Replace to script an answer or an error. */
  onEmbed: (request: EmbedRequest) => Promise<EmbedResult>;
  onRerank: (request: RerankRequest) => Promise<RerankResult>;
  /** Echoes every input back as an output of the same name, unless replaced. */
  onInfer: (request: InferRequest) => Promise<InferResult>;
  /** Events each generation yields (index within [0, prompts x n)); a thrown error ends it. */
  onGenerate: (request: GenerateRequest) => Array<GenerationEvent | Error>;
}

/** Each choice says "Hel" + "lo" (multi-part), then finishes with length. */
export function scriptedEvents(request: GenerateRequest): GenerationEvent[] {
  const choices = request.prompts.length * request.n;
  const events: GenerationEvent[] = [];
  for (let i = 0; i < choices; i++) events.push({ type: 'delta', index: i, text: 'Hel', tokenIds: [10] });
  for (let i = 0; i < choices; i++) events.push({ type: 'delta', index: i, text: 'lo', tokenIds: [11] });
  for (let i = 0; i < choices; i++) events.push({ type: 'finish', index: i, reason: 'length' });
  return events;
}

export function createFakeRuntime(models: Array<Pick<ModelInfo, 'name' | 'task'>>): FakeRuntime {
  const fake: FakeRuntime = {
    calls: { embed: [], rerank: [], generate: [], infer: [] },
    models: models.map((m) => ({ ...m, created: 1700000000, engine: 'onnxruntime', maxLength: 128 })),
    ready_: true,
    ready: Promise.resolve(),
    isReady: () => fake.ready_,
    listModels: () => fake.models,
    onEmbed: async (request) => ({
      model: request.model,
      embeddings: request.inputs.map((_, i) => Float32Array.from([i, 0.5, -1.25])),
      promptTokens: request.inputs.length * 3,
    }),
    onRerank: async (request) => ({
      model: request.model,
      results: request.documents.map((_, index) => ({ index, score: 1 / (index + 2) })).slice(0, request.topN ?? request.documents.length),
      promptTokens: 10,
    }),
    onGenerate: scriptedEvents,
    tokenize: async (request) => ({ ids: 'text' in request.input ? [...request.input.text].map((ch) => ch.charCodeAt(0)) : [1, 2], maxLength: 128 }),
    detokenize: async (request) => String.fromCharCode(...request.ids),
    onInfer: async (request) => ({ model: request.model, outputs: { ...request.inputs } }),
    infer(request) {
      fake.calls.infer.push(request);
      return fake.onInfer(request);
    },
    modelMetadata(name): ModelMetadata {
      const model = fake.models.find((m) => m.name === name);
      if (!model) throw new RuntimeError('model_not_found', `The model '${name}' does not exist.`, { param: 'model' });
      return { name, task: model.task, engine: 'onnxruntime', inputs: [{ name: 'x', type: 'float32', shape: ['batch', 2] }], outputs: [{ name: 'x', type: 'float32', shape: ['batch', 2] }] };
    },
    async generate(request): Promise<Generation> {
      fake.calls.generate.push(request);
      const events = fake.onGenerate(request);
      const first = events[0];
      if (first instanceof Error) throw first; // errors before any output reject the call
      let completion = 0;
      return {
        promptTokens: 7,
        choices: request.prompts.length * request.n,
        cachedTokens: () => 0,
        completionTokens: () => completion,
        async *[Symbol.asyncIterator]() {
          for (const e of events) {
            await new Promise((r) => setImmediate(r));
            if (request.signal?.aborted) throw Object.assign(new Error('cancelled'), { kind: 'cancelled' });
            if (e instanceof Error) throw e;
            if (e.type === 'delta') completion += e.tokenIds.length;
            yield e;
          }
        },
      };
    },
    generateImages: async () => {
      throw new RuntimeError('wrong_task', 'The fake runtime makes no images.', { param: 'model' });
    },
    batchStats: () => ({ runs: 0, sequences: 0, largestBatch: 0, tokens: 0, paddedTokens: 0 }),
    generationStats: (): SchedulerStats => ({ running: 0, waiting: 0, steps: 0, prefills: 0, chunks: 0, sharedChunks: 0, largestDecodeBatch: 0, largestStepTokens: 0, cachedTokens: 0, preemptions: 0, kvTokens: 0, peakKvTokens: 0, kvCapacity: 0, prefixQueriedTokens: 0, seconds: { prefill: 0, decode: 0, decodeWithChunk: 0 }, proposedTokens: 0, acceptedTokens: 0 }),
    embed(request) {
      fake.calls.embed.push(request);
      return fake.onEmbed(request);
    },
    rerank(request) {
      fake.calls.rerank.push(request);
      return fake.onRerank(request);
    },
    close: async () => {},
  };
  return fake;
}

/** app.request() with a JSON body, as curl -H 'Content-Type: application/json' would send. */
export function postJson(app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }, path: string, body: unknown, headers: Record<string, string> = { 'Content-Type': 'application/json' }) {
  return app.request(path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** A response body as JSON, typed loosely for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const readJson = (res: Response | Promise<Response>): Promise<any> => Promise.resolve(res).then((r) => r.json());
