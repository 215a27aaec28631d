// The Open Inference Protocol REST routes on a live server: every response validated against
// ../shared/specs/open_inference_rest.yaml, infer on each task equal to its OpenAI/Cohere route,
// a tensor model equal to a direct onnxruntime run and batched across requests, the binary
// extension both ways, the generate extension, and malformed bodies as 4xx in OIP's envelope.
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig, fixturePath } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';
import { readSse } from '../helpers/sse.ts';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Open Inference Protocol REST', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer(
      fixtureConfig([
        { fixture: 'tiny-embed', task: 'embeddings' },
        { fixture: 'tiny-rerank', task: 'rerank' },
        { fixture: 'tiny-chat', task: 'text-generation' },
        { fixture: 'tiny-mlp', task: 'tensor', max_wait_ms: 20 },
        { fixture: 'tiny-identity', task: 'tensor' },
      ]),
    );
  });
  afterAll(() => server.close());

  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`);
    return { status: res.status, body: (await res.json()) as Json };
  };
  const post = async (path: string, body: unknown, headers: Record<string, string> = { 'Content-Type': 'application/json' }) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const valid = (schema: string, value: unknown) => {
    if (specsAvailable) expect(specErrors('oip', schema, value)).toEqual([]);
  };

  it('server metadata, health, model lists', async () => {
    const meta = await get('/v2');
    expect(meta.status).toBe(200);
    expect(meta.body.extensions).toContain('binary_tensor_data');
    valid('metadata_server_response', meta.body);
    expect((await get('/v2/health/live')).status).toBe(200);
    expect((await get('/v2/health/ready')).status).toBe(200);
    expect((await get('/v2/models')).body.models).toEqual(['tiny-embed', 'tiny-rerank', 'tiny-chat', 'tiny-mlp', 'tiny-identity']);
    const index = await post('/v2/repository/index', {});
    expect(index.body).toContainEqual({ name: 'tiny-mlp', version: '1', state: 'READY' });
  });

  it('model metadata from the graph for tensor models, from the task for the others; ready; versions', async () => {
    const mlp = await get('/v2/models/tiny-mlp');
    expect(mlp.status).toBe(200);
    valid('metadata_model_response', mlp.body);
    expect(mlp.body).toMatchObject({ name: 'tiny-mlp', versions: ['1'], platform: 'onnxruntime_onnx' });
    expect(mlp.body.inputs).toEqual([
      { name: 'input', datatype: 'FP32', shape: [-1, 4] },
      { name: 'scale', datatype: 'INT32', shape: [-1, 1] },
      { name: 'mask', datatype: 'BOOL', shape: [-1, 4] },
    ]);
    expect(mlp.body.outputs).toEqual([
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
      { name: 'label', datatype: 'INT64', shape: [-1] },
    ]);
    expect((await get('/v2/models/tiny-mlp/versions/1')).body).toEqual(mlp.body);
    const embed = await get('/v2/models/tiny-embed');
    valid('metadata_model_response', embed.body);
    expect(embed.body.inputs).toEqual([{ name: 'text', datatype: 'BYTES', shape: [-1] }]);
    expect(await get('/v2/models/tiny-mlp/ready')).toEqual({ status: 200, body: { name: 'tiny-mlp', ready: true } });
    expect(await get('/v2/models/tiny-mlp/versions/1/ready')).toEqual({ status: 200, body: { name: 'tiny-mlp', ready: true } });
    for (const path of ['/v2/models/nope', '/v2/models/tiny-mlp/versions/2', '/v2/models/nope/ready']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(typeof res.body.error).toBe('string');
    }
  });

  it('embeddings infer equals /v3/embeddings; [N,1] and str content_type accepted; id echoed', async () => {
    const texts = ['hello world', 'the sky is blue'];
    const oip = await post('/v2/models/tiny-embed/infer', { id: 'req-1', inputs: [{ name: 'text', datatype: 'BYTES', shape: [2, 1], data: texts, parameters: { content_type: 'str' } }] });
    expect(oip.status).toBe(200);
    valid('inference_response', oip.body);
    expect(oip.body).toMatchObject({ model_name: 'tiny-embed', id: 'req-1' });
    const [out] = oip.body.outputs;
    expect(out).toMatchObject({ name: 'embeddings', datatype: 'FP32', shape: [2, 32] });
    const v3 = await post('/v3/embeddings', { model: 'tiny-embed', input: texts });
    const expected = v3.body.data.flatMap((d: Json) => d.embedding);
    out.data.forEach((x: number, i: number) => expect(x).toBeCloseTo(expected[i], 6));
    // Token ids as INT64 with a mask give the same vectors as the texts' own ids.
    const ids = await post('/v2/models/tiny-embed/infer', { inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 3], data: [5, 6, 7] }] });
    expect(ids.status).toBe(200);
    expect(ids.body.outputs[0].shape).toEqual([1, 32]);
  });

  it('rerank infer gives scores in input order, equal to /v3/rerank', async () => {
    const documents = ['Paris is the capital', 'The sky is blue', 'Berlin'];
    const oip = await post('/v2/models/tiny-rerank/infer', {
      inputs: [
        { name: 'query', datatype: 'BYTES', shape: [1], data: ['capital of France'] },
        { name: 'documents', datatype: 'BYTES', shape: [3], data: documents },
      ],
    });
    expect(oip.status).toBe(200);
    valid('inference_response', oip.body);
    const v3 = await post('/v3/rerank', { model: 'tiny-rerank', query: 'capital of France', documents });
    for (const r of v3.body.results) expect(oip.body.outputs[0].data[r.index]).toBeCloseTo(r.relevance_score, 6);
  });

  it('text generation infer and the generate extension give /v3/completions text', async () => {
    const parameters = { max_tokens: 6, temperature: 0 };
    const v3 = await post('/v3/completions', { model: 'tiny-chat', prompt: 'The capital of France is', ...parameters });
    const infer = await post('/v2/models/tiny-chat/infer', { inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], data: ['The capital of France is'] }], parameters });
    expect(infer.status).toBe(200);
    valid('inference_response', infer.body);
    expect(infer.body.outputs[0]).toMatchObject({ name: 'text_output', datatype: 'BYTES', shape: [1], data: [v3.body.choices[0].text] });
    const generate = await post('/v2/models/tiny-chat/generate', { text_input: 'The capital of France is', parameters });
    expect(generate).toEqual({ status: 200, body: { model_name: 'tiny-chat', model_version: '1', text_output: v3.body.choices[0].text, finish_reason: 'length' } });
    const res = await fetch(`${server.url}/v2/models/tiny-chat/generate_stream`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text_input: 'The capital of France is', parameters }) });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const sse = await readSse(res);
    expect(sse.frames.map((f) => f.text_output).join('')).toBe(v3.body.choices[0].text);
    expect(sse.frames.at(-1)).toMatchObject({ finish_reason: 'length' });
    const bad = await post('/v2/models/tiny-chat/generate', '{"text_input": "x", "parameters": {"temperature": 1e400}}');
    expect(bad.status).toBe(400);
  });

  const mlpInputs = (rows: number, seed: number) => {
    const input = Array.from({ length: rows * 4 }, (_, i) => Math.sin(seed * 31 + i) * 2);
    const scale = Array.from({ length: rows }, (_, i) => 1 + ((seed + i) % 3));
    const mask = Array.from({ length: rows * 4 }, (_, i) => (seed + i) % 5 !== 0);
    return { input, scale, mask };
  };
  const mlpBody = (rows: number, seed: number, extra: object = {}) => {
    const { input, scale, mask } = mlpInputs(rows, seed);
    return {
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [rows, 4], data: input },
        { name: 'scale', datatype: 'INT32', shape: [rows, 1], data: scale },
        { name: 'mask', datatype: 'BOOL', shape: [rows, 4], data: mask },
      ],
      ...extra,
    };
  };

  it('a tensor model: infer equals a direct onnxruntime run; outputs selects a subset', async () => {
    const session = await ort.InferenceSession.create(join(fixturePath('tiny-mlp'), 'onnx', 'model.onnx'));
    const { input, scale, mask } = mlpInputs(3, 1);
    const direct = await session.run({
      input: new ort.Tensor('float32', Float32Array.from(input), [3, 4]),
      scale: new ort.Tensor('int32', Int32Array.from(scale), [3, 1]),
      mask: new ort.Tensor('bool', Uint8Array.from(mask.map(Number)), [3, 4]),
    });
    await session.release();
    const oip = await post('/v2/models/tiny-mlp/infer', mlpBody(3, 1));
    expect(oip.status).toBe(200);
    valid('inference_response', oip.body);
    const [probabilities, label] = oip.body.outputs;
    expect(probabilities.shape).toEqual([3, 3]);
    probabilities.data.forEach((x: number, i: number) => expect(x).toBeCloseTo((direct.probabilities!.data as Float32Array)[i]!, 6));
    expect(label).toEqual({ name: 'label', datatype: 'INT64', shape: [3], data: [...(direct.label!.data as BigInt64Array)].map(Number) });
    const subset = await post('/v2/models/tiny-mlp/infer', mlpBody(3, 1, { outputs: [{ name: 'label' }] }));
    expect(subset.body.outputs.map((o: Json) => o.name)).toEqual(['label']);
  });

  it('8 concurrent tensor requests are batched along the first dimension, each gets its own rows', async () => {
    const alone = await Promise.all(Array.from({ length: 8 }, async (_, i) => (await post('/v2/models/tiny-mlp/infer', mlpBody(1 + (i % 3), i))).body));
    const before = { ...server.runtime.batchStats('tiny-mlp') };
    const together = await Promise.all(Array.from({ length: 8 }, (_, i) => post('/v2/models/tiny-mlp/infer', mlpBody(1 + (i % 3), i))));
    const after = server.runtime.batchStats('tiny-mlp');
    // Fewer backend runs than requests, and a run that carried several of them.
    expect(after.sequences - before.sequences).toBe(8);
    expect(after.runs - before.runs).toBeLessThan(8);
    expect(after.largestBatch).toBeGreaterThan(1);
    together.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.outputs[1].data).toEqual(alone[i].outputs[1].data);
      r.body.outputs[0].data.forEach((x: number, j: number) => expect(x).toBeCloseTo(alone[i].outputs[0].data[j], 5));
    });
  });

  it('every datatype round-trips through a real session, in JSON and in the binary extension', async () => {
    const values: Record<string, unknown[]> = {
      BOOL: [true, false, true],
      UINT8: [0, 128, 255],
      UINT16: [0, 1, 65535],
      UINT32: [0, 7, 4294967295],
      UINT64: [0, 1, 2 ** 53 - 1],
      INT8: [-128, 0, 127],
      INT16: [-32768, 5, 32767],
      INT32: [-(2 ** 31), 0, 2 ** 31 - 1],
      INT64: [-(2 ** 53 - 1), 0, 2 ** 53 - 1],
      FP32: [1.5, -2.25, 0],
      FP64: [Math.PI, -1e300, 0],
    };
    const names: Record<string, string> = { BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64', INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64', FP32: 'float32', FP64: 'float64', FP16: 'float16' };
    const inputs = Object.entries(values).map(([datatype, data]) => ({ name: `input_${names[datatype]}`, datatype, shape: [1, 3], data }));
    // FP16 has no JSON form: it travels as binary data (1.0, -2.0, 0.5 as half floats).
    const half = Buffer.from(Uint16Array.from([0x3c00, 0xc000, 0x3800]).buffer);
    const header = Buffer.from(JSON.stringify({ inputs: [...inputs, { name: 'input_float16', datatype: 'FP16', shape: [1, 3], parameters: { binary_data_size: half.length } }], parameters: { binary_data_output: false } }));
    const res = await fetch(`${server.url}/v2/models/tiny-identity/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
      body: Buffer.concat([header, half]),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    valid('inference_response', body);
    for (const [datatype, data] of Object.entries(values)) expect(body.outputs.find((o: Json) => o.name === `output_${names[datatype]}`)).toMatchObject({ datatype, data });
    expect(body.outputs.find((o: Json) => o.name === 'output_float16')).toMatchObject({ datatype: 'FP16', data: [1, -2, 0.5] });
  });

  it('binary output: raw little-endian data after the JSON header', async () => {
    const res = await fetch(`${server.url}/v2/models/tiny-mlp/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(mlpBody(2, 3, { outputs: [{ name: 'probabilities', parameters: { binary_data: true } }, { name: 'label' }] })),
    });
    expect(res.status).toBe(200);
    const length = Number(res.headers.get('inference-header-content-length'));
    const bytes = Buffer.from(await res.arrayBuffer());
    const header = JSON.parse(bytes.subarray(0, length).toString('utf8')) as Json;
    expect(header.outputs[0]).toMatchObject({ name: 'probabilities', shape: [2, 3], parameters: { binary_data_size: 24 } });
    expect(header.outputs[0].data).toBeUndefined();
    const probabilities = new Float32Array(bytes.buffer.slice(bytes.byteOffset + length, bytes.byteOffset + length + 24));
    const json = await post('/v2/models/tiny-mlp/infer', mlpBody(2, 3));
    [...probabilities].forEach((x, i) => expect(x).toBeCloseTo(json.body.outputs[0].data[i], 6));
  });

  const mlp = (inputs: unknown) => ({ inputs });
  const malformed: Array<[string, unknown, number]> = [
    ['not JSON', '{"inputs": [', 400],
    ['inputs missing', {}, 400],
    ['inputs not an array', { inputs: {} }, 400],
    ['an input without a name', mlp([{ datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }]), 400],
    ['an unknown datatype', mlp([{ name: 'input', datatype: 'FLOAT', shape: [1, 4], data: [1, 2, 3, 4] }]), 400],
    ['shape and data disagree', mlp([{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3] }]), 400],
    ['a negative dim', mlp([{ name: 'input', datatype: 'FP32', shape: [-1, 4], data: [1, 2, 3, 4] }]), 400],
    ['a fractional dim', mlp([{ name: 'input', datatype: 'FP32', shape: [0.5, 4], data: [] }]), 400],
    ['a string in FP32', mlp([{ name: 'input', datatype: 'FP32', shape: [1, 1], data: ['x'] }]), 400],
    ['INT8 out of range', mlp([{ name: 'input_int8', datatype: 'INT8', shape: [1, 3], data: [1, 2, 300] }]), 400],
    ['a fractional INT32', mlp([{ name: 'scale', datatype: 'INT32', shape: [1, 1], data: [1.5] }]), 400],
    ['FP16 as JSON', mlp([{ name: 'input', datatype: 'FP16', shape: [1, 1], data: [1] }]), 400],
    ['non-rectangular nested data', mlp([{ name: 'input', datatype: 'FP32', shape: [2, 2], data: [[1, 2], [3]] }]), 400],
    ['an unknown input name', { inputs: [...mlpBody(1, 0).inputs, { name: 'extra', datatype: 'FP32', shape: [1], data: [1] }] }, 400],
    ['a missing input', { inputs: mlpBody(1, 0).inputs.slice(0, 2) }, 400],
    ['the wrong datatype for the graph', { inputs: [{ ...mlpBody(1, 0).inputs[0], datatype: 'FP64' }, ...mlpBody(1, 0).inputs.slice(1)] }, 400],
    ['the wrong fixed dim', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 5], data: [1, 2, 3, 4, 5] }, ...mlpBody(1, 0).inputs.slice(1)] }, 400],
    ['batch dims that differ between inputs', { inputs: [mlpBody(2, 0).inputs[0], ...mlpBody(1, 0).inputs.slice(1)] }, 400],
    ['an unknown output', mlpBody(1, 0, { outputs: [{ name: 'nope' }] }), 400],
    ['BYTES to a tensor model', mlp([{ name: 'input', datatype: 'BYTES', shape: [1], data: ['x'] }]), 400],
    ['binary_data_size without a binary body', mlp([{ name: 'input', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }]), 400],
    ['parameters as an array', { ...mlpBody(1, 0), parameters: [] }, 400],
    ['a 5,000-deep body', `{"inputs": ${'['.repeat(5000)}${']'.repeat(5000)}}`, 400],
  ];
  it.each(malformed)('%s: a %i in OIP\'s envelope, and the server keeps serving', async (_, body, status) => {
    const res = await post('/v2/models/tiny-mlp/infer', body);
    expect(res.status).toBe(status);
    expect(Object.keys(res.body)).toEqual(['error']);
    expect(typeof res.body.error).toBe('string');
  });

  it('unknown model 404, text/plain 415, wrong task inputs 400, binary sizes that do not add up 400', async () => {
    expect((await post('/v2/models/nope/infer', mlpBody(1, 0))).status).toBe(404);
    expect((await post('/v2/models/tiny-mlp/infer', mlpBody(1, 0), { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post('/v2/models/tiny-embed/infer', mlpBody(1, 0))).status).toBe(400);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }] }));
    const res = await fetch(`${server.url}/v2/models/tiny-mlp/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
      body: Buffer.concat([header, Buffer.alloc(8)]),
    });
    expect(res.status).toBe(400);
    expect(typeof ((await res.json()) as Json).error).toBe('string');
    expect((await post('/v2/models/tiny-mlp/infer', mlpBody(1, 0))).status).toBe(200);
  });
});
