// A scripted Runtime for handler tests: records the neutral requests, answers what the test says.
import type { EmbedRequest, EmbedResult, ModelInfo, RerankRequest, RerankResult, Runtime } from '../../runtime/index.ts';

export interface FakeRuntime extends Runtime {
  calls: { embed: EmbedRequest[]; rerank: RerankRequest[] };
  models: ModelInfo[];
  ready_: boolean;
  /** Replace to script an answer or an error. */
  onEmbed: (request: EmbedRequest) => Promise<EmbedResult>;
  onRerank: (request: RerankRequest) => Promise<RerankResult>;
}

export function createFakeRuntime(models: Array<Pick<ModelInfo, 'name' | 'task'>>): FakeRuntime {
  const fake: FakeRuntime = {
    calls: { embed: [], rerank: [] },
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
