// The seeded fuzz suite in `npm test`: a few thousand hostile requests against every route of a real
// listening server; no 5xx, the right error envelope, no hangs, and every route still works after.
// FUZZ_SEED and FUZZ_COUNT change the run; FUZZ_EXCLUDE (tags or families, comma-separated) is for
// your own runs only. Long runs: `npm run fuzz -- --count 100000`.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatRequestSchema } from '../../handlers/chat-completions/wire.ts';
import { CompletionRequestSchema } from '../../handlers/completions/wire.ts';
import { EmbeddingsRequestSchema } from '../../handlers/embeddings/wire.ts';
import { RerankRequestSchema } from '../../handlers/rerank/wire.ts';
import { fixtureConfig, TEXT_MODELS } from '../helpers/fixtures.ts';
import { SHARED_DIR } from '../helpers/paths.ts';
import { startServer } from '../helpers/server.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';
import { FIELDS, generateCase, generateCases, MODELS, PIN_COUNT, ROUTE_KINDS, type FuzzCase, type JsonRoute } from './cases.ts';
import { loadRequestSchemas, runFuzz, signatureOf, summarizeFailures } from './run.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_250_611);
const COUNT = Number(process.env.FUZZ_COUNT ?? 3000);
const EXCLUDE = (process.env.FUZZ_EXCLUDE ?? '').split(',').filter(Boolean);
const specs = loadRequestSchemas(join(SHARED_DIR, 'specs'));
let generated: FuzzCase[] | undefined;
/** The run's cases, generated once for every test here. */
const runCases = () => (generated ??= generateCases(SEED, COUNT, { scale: 'quick', specs, exclude: EXCLUDE }));

describe('fuzz cases', () => {
  it('are pure functions of (seed, index)', () => {
    for (const index of [0, 1, PIN_COUNT, PIN_COUNT + 1, 777, 2999]) {
      expect(generateCase(SEED, index, { specs })).toEqual(generateCase(SEED, index, { specs }));
    }
    // Case i alone equals case i of the whole run.
    for (const c of runCases().filter((_, i) => i % 97 === 0)) expect(generateCase(SEED, c.index, { scale: 'quick', specs })).toEqual(c);
    expect(generateCase(SEED + 1, PIN_COUNT + 5).request).not.toEqual(generateCase(SEED, PIN_COUNT + 5).request);
  });

  it('know every field the route schemas validate', () => {
    // The object schema's keys, also when it sits inside a pipe (own-key checks before it).
    const keys = (schema: unknown): string[] => {
      const s = schema as { entries?: object; pipe?: unknown[] };
      if (s.entries) return Object.keys(s.entries);
      return (s.pipe ?? []).flatMap((step) => ((step as { entries?: object }).entries ? keys(step) : []));
    };
    const schemaFields: Record<JsonRoute, string[]> = {
      chat: keys(ChatRequestSchema),
      completions: keys(CompletionRequestSchema),
      embeddings: keys(EmbeddingsRequestSchema),
      'rerank-v1': keys(RerankRequestSchema),
      'rerank-v2': keys(RerankRequestSchema),
    };
    for (const [route, names] of Object.entries(schemaFields) as Array<[JsonRoute, string[]]>) {
      expect({ route, fields: FIELDS[route].map((f) => f.name).sort() }).toEqual({ route, fields: [...names].sort() });
    }
  });

  it.runIf(specsAvailable)('build valid requests that the OpenAPI request schemas accept', () => {
    const pointers: Record<JsonRoute, ['openai' | 'cohere', string]> = {
      chat: ['openai', 'CreateChatCompletionRequest'],
      completions: ['openai', 'CreateCompletionRequest'],
      embeddings: ['openai', 'CreateEmbeddingRequest'],
      'rerank-v1': ['cohere', '#/paths/~1v1~1rerank/post/requestBody/content/application~1json/schema'],
      'rerank-v2': ['cohere', '#/paths/~1v2~1rerank/post/requestBody/content/application~1json/schema'],
    };
    // vLLM/llama.cpp extensions the server takes on top of the OpenAI schema.
    const extensions = new Set(['top_k', 'min_p', 'repetition_penalty', 'ignore_eos']);
    const valid = runCases().filter((c) => c.category === 'valid' && c.expect === 'accept' && c.route in pointers);
    expect(valid.length).toBeGreaterThan(COUNT / 50);
    const errors = valid.flatMap((c) => {
      const body = JSON.parse(c.request.body as string) as Record<string, unknown>;
      for (const k of Object.keys(body)) if (extensions.has(k)) delete body[k];
      // On a per-model path the path names the model the body may leave out.
      if (c.request.path.startsWith('/v2/models/')) body.model ??= MODELS[c.route as JsonRoute];
      // A v1-shaped body sent to a v2 path (older v2 clients) is checked against the v1 schema.
      const [spec, pointer] = pointers[c.route as JsonRoute];
      return specErrors(spec, pointer, body).map((e) => `case ${c.index} ${c.route}: ${e} <- ${c.request.body}`);
    });
    expect(errors.slice(0, 10)).toEqual([]);
  });

  it('cover every route and every kind of mutation', () => {
    const cases = runCases();
    const routes = new Set(cases.map((c) => c.route));
    const categories = new Set(cases.map((c) => c.category));
    expect([...ROUTE_KINDS].filter((r) => !routes.has(r))).toEqual([]);
    const all: FuzzCase['category'][] = ['valid', 'spec-field', 'wrong-type', 'missing', 'extreme', 'long-generation', 'huge', 'deep', 'unicode', 'proto', 'shape', 'content-type', 'malformed', 'unknown-model', 'method', 'headers', 'get-route', 'unknown-path', 'pinned'];
    expect(all.filter((c) => !categories.has(c))).toEqual([]);
  });
});

describe('fuzz: a real server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer(fixtureConfig(TEXT_MODELS));
  });
  afterAll(() => server?.close());

  it(`answers ${COUNT} seeded hostile requests (seed ${SEED}) without a 5xx, a wrong envelope or a hang`, async () => {
    const cases = runCases();
    const seen = new Set<string>();
    const report = await runFuzz({ host: '127.0.0.1', port: server.port }, cases, {
      concurrency: 8,
      timeoutMs: 20_000,
      probeEvery: 200,
      // The first of each distinct failure, printed as it happens: a run a hang stops still says what it saw.
      onFailure: (f) => {
        if (seen.has(signatureOf(f)) || seen.size >= 40) return;
        seen.add(signatureOf(f));
        console.error(`fuzz failure: ${f.kind} ${f.status ?? ''} seed ${f.case.seed} case ${f.case.index} [${f.case.mutation.slice(0, 100)}]: ${f.message.slice(0, 200)}`);
      },
    });
    expect(report.stoppedEarly).toBeUndefined();
    expect(report.cases).toBe(cases.length);
    expect(summarizeFailures(report.failures)).toEqual([]);
  }, 300_000);
});
