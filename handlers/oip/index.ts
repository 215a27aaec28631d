// The Open Inference Protocol (KServe v2) REST routes, mounted at /v2: server and model metadata,
// model readiness, infer on every task (JSON or the binary tensor extension), the generate
// extension, and the model lists KServe, Triton and OVMS clients call. Errors are `{"error": "..."}`.
import type { Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { RuntimeError, type Runtime } from '../../runtime/index.ts';
import { collectChoices } from '../shared/collect.ts';
import { samplingFromWire } from '../shared/generation-params.ts';
import { parseJsonBody } from '../shared/json-body.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { DEFAULT_SSE, sseResponse, type SseOptions } from '../shared/sse.ts';
import { jsonBody, MAX_JSON_DEPTH } from '../shared/validate.ts';
import { BINARY_CONTENT_TYPE, buildBinaryResponse, HEADER_LENGTH_HEADER, parseHeaderLength, splitBinaryRequest } from './binary.ts';
import { EXTENSIONS, isModelReady, MODEL_VERSION, platformOf, selectOutputs, servedModel, VERSION } from './models.ts';
import { OIP_TASKS } from './tasks.ts';
import { decodeRequest, encodeOutputs } from './tensors.ts';
import {
  generateOutput,
  GenerateRequestSchema,
  modelMetadataToWire,
  parseGenerateParameters,
  parseInferenceRequest,
  serverMetadata,
  type InferenceRequest,
} from './wire.ts';

const MODEL = '/models/:model{[^/]+}';
const VERSIONED = `${MODEL}/versions/:version{[^/]+}`;

const JSON_TYPE = /^application\/json\s*(;.*)?$/i;

export function createOipApp(runtime: Runtime, sse: SseOptions = DEFAULT_SSE): Hono {
  const app = createRouteApp('oip');

  /** The path's model, checked to exist and (when the path names one) its version to be ours. */
  const servedAt = (c: Context) => servedModel(runtime, c.req.param('model') as string, c.req.param('version'));
  const modelOf = (c: Context) => servedAt(c).name;

  /** A JSON body, or the binary tensor extension's JSON header plus raw tensor data. */
  async function readInferBody(c: Context): Promise<{ request: InferenceRequest; chunks?: Map<string, Uint8Array> }> {
    const type = c.req.header('Content-Type');
    const headerLength = c.req.header(HEADER_LENGTH_HEADER);
    if (headerLength !== undefined) {
      if (type !== undefined && type.split(';')[0]?.trim().toLowerCase() !== BINARY_CONTENT_TYPE && !JSON_TYPE.test(type)) {
        throw new HTTPException(415, { message: `Unsupported Media Type '${type.slice(0, 100)}': binary tensor requests are '${BINARY_CONTENT_TYPE}'.` });
      }
      return splitBinaryRequest(new Uint8Array(await c.req.arrayBuffer()), parseHeaderLength(headerLength));
    }
    if (type === undefined || !JSON_TYPE.test(type)) {
      throw new HTTPException(415, { message: `Unsupported Media Type: infer takes 'application/json' (or '${BINARY_CONTENT_TYPE}' with ${HEADER_LENGTH_HEADER}).` });
    }
    const parsed = await parseJsonBody(await c.req.arrayBuffer(), MAX_JSON_DEPTH);
    if (!parsed.ok) throw new RuntimeError('invalid_request', parsed.reason === 'depth' ? `The request body nests deeper than ${MAX_JSON_DEPTH} levels.` : 'The request body is not valid JSON.');
    return { request: parseInferenceRequest(parsed.value) };
  }

  app.get('/', (c) => c.json(serverMetadata(VERSION, EXTENSIONS)));
  app.get('/models', (c) => c.json({ models: runtime.listModels().map((m) => m.name) }));
  // Triton and OVMS clients list what is loaded this way.
  app.post('/repository/index', (c) =>
    c.json(runtime.listModels().map((m) => ({ name: m.name, version: MODEL_VERSION, state: m.created > 0 ? 'READY' : 'LOADING', ...(m.created > 0 ? {} : { reason: 'loading' }) }))),
  );

  for (const base of [MODEL, VERSIONED]) {
    app.get(base, (c) => {
      const model = modelOf(c);
      const meta = runtime.modelMetadata(model);
      return c.json(modelMetadataToWire(model, platformOf(meta.engine), OIP_TASKS[meta.task].metadata(meta)));
    });

    app.get(`${base}/ready`, (c) => {
      const model = modelOf(c);
      const ready = isModelReady(runtime, model);
      return c.json({ name: model, ready }, ready ? 200 : 503);
    });

    app.post(`${base}/infer`, async (c) => {
      const { name: model, task: taskName } = servedAt(c);
      const task = OIP_TASKS[taskName];
      const { request, chunks } = await readInferBody(c);
      const decoded = decodeRequest(request, chunks);
      const outputs = await task.infer({ runtime, model, inputs: decoded.inputs, parameters: request.parameters, signal: c.req.raw.signal });
      const encoded = encodeOutputs(selectOutputs(outputs, decoded.outputs), decoded.binaryOutput);
      const response = { model_name: model, model_version: MODEL_VERSION, ...(request.id === undefined ? {} : { id: request.id }), outputs: encoded.outputs };
      if (encoded.binaries.length === 0) return c.json(response);
      const binary = buildBinaryResponse(response, encoded.binaries);
      return c.body(binary.body as Uint8Array<ArrayBuffer>, 200, binary.headers);
    });

    // The generate extension (Triton, MLServer): text in, text out, JSON or SSE.
    app.post(`${base}/generate`, ...jsonBody(GenerateRequestSchema, 'oip'), async (c) => {
      const model = modelOf(c);
      const body = c.req.valid('json');
      const sampling = parseGenerateParameters(body.parameters);
      const generation = await runtime.generate({ ...samplingFromWire(sampling), model, prompts: [{ text: body.text_input }], maxTokens: sampling.max_tokens ?? undefined, signal: c.req.raw.signal });
      const [choice] = await collectChoices(generation);
      return c.json(generateOutput(model, choice?.text ?? '', choice?.finishReason));
    });

    app.post(`${base}/generate_stream`, ...jsonBody(GenerateRequestSchema, 'oip'), async (c) => {
      const model = modelOf(c);
      const body = c.req.valid('json');
      const sampling = parseGenerateParameters(body.parameters);
      const cancel = new AbortController();
      const generation = await runtime.generate({ ...samplingFromWire(sampling), model, prompts: [{ text: body.text_input }], maxTokens: sampling.max_tokens ?? undefined, signal: cancel.signal });
      return sseResponse(
        c,
        sse,
        cancel,
        async (out) => {
          for await (const event of generation) {
            if (event.type === 'finish') out.send(generateOutput(model, '', event.reason));
            else if (event.text !== '') out.send(generateOutput(model, event.text));
          }
        },
        { done: null, flavor: 'oip' },
      );
    });
  }
  return app;
}
