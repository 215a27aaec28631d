// The Open Inference Protocol gRPC service on a live server, through a real @grpc/grpc-js client:
// every RPC, ModelInfer typed and raw equal to the same server's REST infer answers (every
// datatype, each task), bad requests as status codes with a message, and no gRPC unless asked.
import { credentials, loadPackageDefinition, Metadata, status, type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferRequestFromGrpc, inferResponseToGrpc } from '../../handlers/oip/grpc-codec.ts';
import { decodeRequest } from '../../handlers/oip/tensors.ts';
import { serve, type ServedServer } from '../../wrangler-free-local/serve.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { PROJECT_DIR, SHARED_DIR } from '../helpers/paths.ts';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

// The client is built from the spec's own proto when ../shared is there, so passing proves the
// service speaks the spec file (not only the copy it loads itself); the committed copy otherwise.
const SPEC_PROTO = join(SHARED_DIR, 'specs', 'open_inference_grpc.proto');
const PROTO = existsSync(SPEC_PROTO) ? SPEC_PROTO : join(PROJECT_DIR, 'handlers', 'oip', 'open_inference_grpc.proto');

/** A client as a Triton or KServe user would build one (64-bit integers as exact strings). */
function connect(port: number): Client & Record<string, Json> {
  const pkg = loadPackageDefinition(loadSync(PROTO, { keepCase: true, longs: String, defaults: true, oneofs: true }));
  const Service = (pkg.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;
  return new Service(`127.0.0.1:${port}`, credentials.createInsecure()) as Client & Record<string, Json>;
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** BYTES as raw contents: each item a 4-byte little-endian length, then its bytes. */
const lengthPrefixed = (items: Array<string | Buffer>) =>
  Buffer.concat(items.flatMap((item) => {
    const bytes = typeof item === 'string' ? Buffer.from(item) : item;
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    return [length, bytes];
  }));

interface RawTensor {
  name: string;
  datatype: string;
  shape: number[];
  bytes: Buffer;
}

describe('Open Inference Protocol gRPC', () => {
  let running: ServedServer;
  let client: Client & Record<string, Json>;
  let grpcPort: number;
  const lines: string[] = [];

  beforeAll(async () => {
    grpcPort = await freePort();
    running = await serve({
      config: fixtureConfig([
        // Matryoshka, so the dimensions parameter can cut its vectors.
        { fixture: 'tiny-embed', task: 'embeddings', matryoshka: true },
        { fixture: 'tiny-rerank', task: 'rerank' },
        { fixture: 'tiny-chat', task: 'text-generation' },
        { fixture: 'tiny-mlp', task: 'tensor' },
        { fixture: 'tiny-identity', task: 'tensor' },
      ]),
      port: 0,
      host: '127.0.0.1',
      grpcPort,
      log: (line) => lines.push(line),
    });
    await running.ready;
    client = connect(grpcPort);
  });
  afterAll(async () => {
    client?.close();
    await running?.close();
  });

  const call = (method: string, request: object) =>
    new Promise<Json>((resolve, reject) => client[method](request, (err: ServiceError | null, response: Json) => (err ? reject(err) : resolve(response))));
  const failure = (method: string, request: object) =>
    call(method, request).then(
      () => {
        throw new Error(`${method} succeeded where it should fail`);
      },
      (err: ServiceError) => err,
    );

  const get = async (path: string) => (await fetch(`${running.url}${path}`)).json() as Promise<Json>;
  const postJson = async (path: string, body: unknown) => {
    const res = await fetch(`${running.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };
  /** REST infer with binary inputs and binary outputs: each output with its raw bytes. */
  const postBinary = async (model: string, inputs: RawTensor[]): Promise<RawTensor[]> => {
    const header = Buffer.from(
      JSON.stringify({ inputs: inputs.map(({ bytes, ...input }) => ({ ...input, parameters: { binary_data_size: bytes.length } })), parameters: { binary_data_output: true } }),
    );
    const res = await fetch(`${running.url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
      body: Buffer.concat([header, ...inputs.map((i) => i.bytes)]),
    });
    expect(res.status).toBe(200);
    const length = Number(res.headers.get('inference-header-content-length'));
    const body = Buffer.from(await res.arrayBuffer());
    let at = length;
    return (JSON.parse(body.subarray(0, length).toString('utf8')) as Json).outputs.map((o: Json) => {
      const bytes = body.subarray(at, (at += o.parameters.binary_data_size));
      return { name: o.name, datatype: o.datatype, shape: o.shape, bytes };
    });
  };
  /** A gRPC raw request's answer in the same form. */
  const inferRaw = async (model: string, inputs: RawTensor[], extra: object = {}): Promise<RawTensor[]> => {
    const response = await call('ModelInfer', { model_name: model, inputs: inputs.map(({ bytes, ...input }) => input), raw_input_contents: inputs.map((i) => i.bytes), ...extra });
    expect(response.outputs.every((o: Json) => o.contents === null)).toBe(true);
    return response.outputs.map((o: Json, i: number) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number), bytes: response.raw_output_contents[i] }));
  };

  it('listens on the given port and says so', () => {
    expect(running.grpcPort).toBe(grpcPort);
    expect(lines).toContain(`gRPC listening on 127.0.0.1:${grpcPort}`);
  });

  it('ServerLive, ServerReady and ServerMetadata answer what the REST routes do', async () => {
    expect(await call('ServerLive', {})).toEqual(await get('/v2/health/live'));
    expect(await call('ServerReady', {})).toEqual(await get('/v2/health/ready'));
    expect(await call('ServerMetadata', {})).toEqual(await get('/v2'));
  });

  it('ModelReady and ModelMetadata for every model equal REST, with and without version "1"', async () => {
    for (const name of ['tiny-embed', 'tiny-rerank', 'tiny-chat', 'tiny-mlp', 'tiny-identity']) {
      const rest = await get(`/v2/models/${name}`);
      for (const version of ['', '1']) {
        const meta = await call('ModelMetadata', { name, version });
        const shapes = (tensors: Json[]) => tensors.map((t) => ({ ...t, shape: t.shape.map(Number) }));
        expect({ ...meta, inputs: shapes(meta.inputs), outputs: shapes(meta.outputs) }).toEqual({ ...rest, properties: {} });
        expect(await call('ModelReady', { name, version })).toEqual({ ready: (await get(`/v2/models/${name}/ready`)).ready });
      }
    }
    expect((await call('ModelMetadata', { name: 'tiny-mlp' })).inputs.map((t: Json) => t.datatype)).toEqual(['FP32', 'INT32', 'BOOL']);
  });

  const mlpValues = (rows: number, seed: number) => ({
    input: Array.from({ length: rows * 4 }, (_, i) => Math.fround(Math.sin(seed * 31 + i) * 2)),
    scale: Array.from({ length: rows }, (_, i) => 1 + ((seed + i) % 3)),
    mask: Array.from({ length: rows * 4 }, (_, i) => (seed + i) % 5 !== 0),
  });
  const mlpTyped = (rows: number, seed: number) => {
    const { input, scale, mask } = mlpValues(rows, seed);
    return [
      { name: 'input', datatype: 'FP32', shape: [rows, 4], contents: { fp32_contents: input } },
      { name: 'scale', datatype: 'INT32', shape: [rows, 1], contents: { int_contents: scale } },
      { name: 'mask', datatype: 'BOOL', shape: [rows, 4], contents: { bool_contents: mask } },
    ];
  };
  const mlpJson = (rows: number, seed: number) => {
    const { input, scale, mask } = mlpValues(rows, seed);
    return [
      { name: 'input', datatype: 'FP32', shape: [rows, 4], data: input },
      { name: 'scale', datatype: 'INT32', shape: [rows, 1], data: scale },
      { name: 'mask', datatype: 'BOOL', shape: [rows, 4], data: mask },
    ];
  };
  const mlpRaw = (rows: number, seed: number): RawTensor[] => {
    const { input, scale, mask } = mlpValues(rows, seed);
    return [
      { name: 'input', datatype: 'FP32', shape: [rows, 4], bytes: bytesOf(Float32Array.from(input)) },
      { name: 'scale', datatype: 'INT32', shape: [rows, 1], bytes: bytesOf(Int32Array.from(scale)) },
      { name: 'mask', datatype: 'BOOL', shape: [rows, 4], bytes: bytesOf(Uint8Array.from(mask.map(Number))) },
    ];
  };

  it('ModelInfer on the MLP with typed contents equals REST JSON; id echoed; outputs selects a subset', async () => {
    const response = await call('ModelInfer', { model_name: 'tiny-mlp', id: 'grpc-1', inputs: mlpTyped(3, 1) });
    const rest = await postJson('/v2/models/tiny-mlp/infer', { inputs: mlpJson(3, 1) });
    expect(response).toMatchObject({ model_name: 'tiny-mlp', model_version: '1', id: 'grpc-1', raw_output_contents: [] });
    const [probabilities, label] = response.outputs;
    expect(probabilities).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: ['3', '3'] });
    expect(probabilities.contents.fp32_contents).toEqual(rest.outputs[0].data);
    expect(label).toMatchObject({ name: 'label', datatype: 'INT64', shape: ['3'] });
    expect(label.contents.int64_contents.map(Number)).toEqual(rest.outputs[1].data);
    const subset = await call('ModelInfer', { model_name: 'tiny-mlp', model_version: '1', inputs: mlpTyped(2, 4), outputs: [{ name: 'label' }] });
    expect(subset.id).toBe('');
    expect(subset.outputs.map((o: Json) => o.name)).toEqual(['label']);
  });

  it('ModelInfer on the MLP with raw contents answers raw_output_contents equal to the REST binary answer', async () => {
    expect(await inferRaw('tiny-mlp', mlpRaw(2, 3))).toEqual(await postBinary('tiny-mlp', mlpRaw(2, 3)));
  });

  const TYPES = ['bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64', 'float16', 'float32', 'float64'] as const;
  const DATATYPE: Record<(typeof TYPES)[number], string> = {
    bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64', int8: 'INT8',
    int16: 'INT16', int32: 'INT32', int64: 'INT64', float16: 'FP16', float32: 'FP32', float64: 'FP64',
  };

  it('the identity model, raw: every datatype (FP16, NaN, 64-bit values beyond 2^53) comes back as sent and as REST gives it', async () => {
    const data: Record<(typeof TYPES)[number], ArrayBufferView> = {
      bool: Uint8Array.from([1, 0, 1]),
      uint8: Uint8Array.from([0, 128, 255]),
      uint16: Uint16Array.from([0, 1, 65535]),
      uint32: Uint32Array.from([0, 7, 4294967295]),
      uint64: BigUint64Array.from([0n, 2n ** 53n + 1n, 2n ** 64n - 1n]),
      int8: Int8Array.from([-128, 0, 127]),
      int16: Int16Array.from([-32768, 5, 32767]),
      int32: Int32Array.from([-(2 ** 31), 0, 2 ** 31 - 1]),
      int64: BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]),
      float16: Uint16Array.from([0x3c00, 0xc000, 0x7e00]),
      float32: Float32Array.from([1.5, NaN, -Infinity]),
      float64: Float64Array.from([Math.PI, -1e300, Infinity]),
    };
    const inputs = TYPES.map((t) => ({ name: `input_${t}`, datatype: DATATYPE[t], shape: [1, 3], bytes: bytesOf(data[t]) }));
    const answer = await inferRaw('tiny-identity', inputs);
    expect(answer).toEqual(await postBinary('tiny-identity', inputs));
    for (const t of TYPES) expect(answer.find((o) => o.name === `output_${t}`)).toEqual({ name: `output_${t}`, datatype: DATATYPE[t], shape: [1, 3], bytes: bytesOf(data[t]) });
  });

  // The identity model takes an FP16 input, and FP16 has no typed field while the proto forbids
  // mixing typed and raw inputs: no typed request can run it. So the typed forms of the other
  // datatypes are checked at the codec, against the REST JSON decoding, and on the wire up to the
  // missing FP16 input (decoding comes first, so that error means all eleven decoded).
  const typedValues = {
    bool: { field: 'bool_contents', values: [true, false, true] },
    uint8: { field: 'uint_contents', values: [0, 128, 255] },
    uint16: { field: 'uint_contents', values: [0, 1, 65535] },
    uint32: { field: 'uint_contents', values: [0, 7, 4294967295] },
    uint64: { field: 'uint64_contents', values: ['0', '1', String(2 ** 53 - 1)] },
    int8: { field: 'int_contents', values: [-128, 0, 127] },
    int16: { field: 'int_contents', values: [-32768, 5, 32767] },
    int32: { field: 'int_contents', values: [-(2 ** 31), 0, 2 ** 31 - 1] },
    int64: { field: 'int64_contents', values: [String(-(2 ** 53 - 1)), '0', String(2 ** 53 - 1)] },
    float32: { field: 'fp32_contents', values: [1.5, -2.25, 0] },
    float64: { field: 'fp64_contents', values: [Math.PI, -1e300, 0] },
  } as const;
  const typedInputs = Object.entries(typedValues).map(([t, { field, values }]) => ({ name: `input_${t}`, datatype: DATATYPE[t as keyof typeof DATATYPE], shape: [1, 3], contents: { [field]: values } }));

  it('the identity model, typed: every datatype with a typed field decodes as REST JSON does and encodes back', async () => {
    const message = { model_name: 'tiny-identity', inputs: typedInputs.map((i) => ({ ...i, shape: i.shape.map(String) })) };
    const fromGrpc = inferRequestFromGrpc(message);
    const grpcTensors = decodeRequest(fromGrpc.request, fromGrpc.chunks).inputs;
    const json = { inputs: Object.entries(typedValues).map(([t, { values }]) => ({ name: `input_${t}`, datatype: DATATYPE[t as keyof typeof DATATYPE], shape: [1, 3], data: values.map((x) => (typeof x === 'string' ? Number(x) : x)) })) };
    expect(grpcTensors).toEqual(decodeRequest(json).inputs);
    const encoded = inferResponseToGrpc({ model_name: 'm', model_version: '1', id: '' }, [...grpcTensors], false);
    expect(encoded.raw_output_contents).toEqual([]);
    expect(encoded.outputs.map((o) => ({ name: o.name, datatype: o.datatype, contents: o.contents }))).toEqual(typedInputs.map(({ name, datatype, contents }) => ({ name, datatype, contents })));
    const missing = await failure('ModelInfer', { model_name: 'tiny-identity', inputs: typedInputs });
    expect(missing.code).toBe(status.INVALID_ARGUMENT);
    expect(missing.details).toContain("'input_float16' is missing");
    const fp16 = await failure('ModelInfer', { model_name: 'tiny-identity', inputs: [...typedInputs, { name: 'input_float16', datatype: 'FP16', shape: [1, 3] }] });
    expect(fp16.code).toBe(status.INVALID_ARGUMENT);
    expect(fp16.details).toContain('raw_input_contents');
  });

  it('embeddings (typed and raw, with a dimensions parameter), rerank and text generation equal REST', async () => {
    const texts = ['hello world', 'the sky is blue'];
    const restEmbed = await postJson('/v2/models/tiny-embed/infer', { inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts }] });
    const typed = await call('ModelInfer', { model_name: 'tiny-embed', inputs: [{ name: 'text', datatype: 'BYTES', shape: [2, 1], contents: { bytes_contents: texts.map((t) => Buffer.from(t)) } }] });
    expect(typed.outputs[0]).toMatchObject({ name: 'embeddings', datatype: 'FP32', shape: ['2', '32'] });
    expect(typed.outputs[0].contents.fp32_contents).toEqual(restEmbed.outputs[0].data);
    const input = { name: 'text', datatype: 'BYTES', shape: [2], bytes: lengthPrefixed(texts) };
    const dimensions = { parameters: { dimensions: { int64_param: 16 } } };
    const restSmall = await postJson('/v2/models/tiny-embed/infer', { inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts }], parameters: { dimensions: 16 } });
    const [raw] = await inferRaw('tiny-embed', [input], dimensions);
    expect(raw?.shape).toEqual([2, 16]);
    expect([...new Float32Array(raw!.bytes.buffer.slice(raw!.bytes.byteOffset, raw!.bytes.byteOffset + raw!.bytes.length))]).toEqual(restSmall.outputs[0].data);

    const documents = ['Paris is the capital', 'The sky is blue', 'Berlin'];
    const restRerank = await postJson('/v2/models/tiny-rerank/infer', {
      inputs: [
        { name: 'query', datatype: 'BYTES', shape: [1], data: ['capital of France'] },
        { name: 'documents', datatype: 'BYTES', shape: [3], data: documents },
      ],
    });
    const rerank = await call('ModelInfer', {
      model_name: 'tiny-rerank',
      inputs: [
        { name: 'query', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('capital of France')] } },
        { name: 'documents', datatype: 'BYTES', shape: [3], contents: { bytes_contents: documents.map((d) => Buffer.from(d)) } },
      ],
    });
    expect(rerank.outputs[0]).toMatchObject({ name: 'scores', datatype: 'FP32', shape: ['3'] });
    expect(rerank.outputs[0].contents.fp32_contents).toEqual(restRerank.outputs[0].data);

    const prompt = 'The capital of France is';
    const restText = await postJson('/v2/models/tiny-chat/infer', { inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], data: [prompt] }], parameters: { max_tokens: 6, temperature: 0 } });
    const text = await call('ModelInfer', {
      model_name: 'tiny-chat',
      inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from(prompt)] } }],
      parameters: { max_tokens: { int64_param: 6 }, temperature: { double_param: 0 } },
    });
    expect(text.outputs[0]).toMatchObject({ name: 'text_output', datatype: 'BYTES', shape: ['1'] });
    expect(text.outputs[0].contents.bytes_contents.map((b: Buffer) => b.toString('utf8'))).toEqual(restText.outputs[0].data);
    const [rawText] = await inferRaw('tiny-chat', [{ name: 'text_input', datatype: 'BYTES', shape: [1], bytes: lengthPrefixed([prompt]) }], { parameters: { max_tokens: { int64_param: 6 }, temperature: { double_param: 0 } } });
    expect(rawText?.bytes).toEqual(lengthPrefixed(restText.outputs[0].data));
  });

  const mlp = (inputs: object[], extra: object = {}) => ({ model_name: 'tiny-mlp', inputs, ...extra });
  const [input, scale, mask] = mlpTyped(1, 0) as [Json, Json, Json];
  const [rawInput, rawScale, rawMask] = mlpRaw(1, 0).map(({ bytes, ...i }) => ({ tensor: i, bytes })) as Array<{ tensor: Json; bytes: Buffer }>;
  const raw = (parts: Array<{ tensor: Json; bytes: Buffer }>) => mlp(parts.map((p) => p.tensor), { raw_input_contents: parts.map((p) => p.bytes) });
  const bad: Array<[string, string, number, object]> = [
    ['an unknown model', 'ModelInfer', status.NOT_FOUND, { ...mlp([input, scale, mask]), model_name: 'nope' }],
    ['an unknown version', 'ModelInfer', status.NOT_FOUND, mlp([input, scale, mask], { model_version: '2' })],
    ['metadata of an unknown model', 'ModelMetadata', status.NOT_FOUND, { name: 'nope' }],
    ['readiness of an unknown model', 'ModelReady', status.NOT_FOUND, { name: 'nope' }],
    ['readiness of an unknown version', 'ModelReady', status.NOT_FOUND, { name: 'tiny-mlp', version: '7' }],
    ['the wrong datatype for the graph', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, datatype: 'FP64', contents: { fp64_contents: input.contents.fp32_contents } }, scale, mask])],
    ['contents in another datatype\'s field', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, contents: { fp64_contents: input.contents.fp32_contents } }, scale, mask])],
    ['a shape the contents do not fill', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, shape: [1, 5] }, scale, mask])],
    ['the wrong fixed dim', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, shape: [2, 2] }, scale, mask])],
    ['a negative dim', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, shape: [-1, 4] }, scale, mask])],
    ['a dim beyond 2^53', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, shape: ['9007199254740993', 4] }, scale, mask])],
    ['an unknown datatype', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, datatype: 'FLOAT' }, scale, mask])],
    ['an unknown input', 'ModelInfer', status.INVALID_ARGUMENT, mlp([input, scale, mask, { ...input, name: 'extra' }])],
    ['an input given twice', 'ModelInfer', status.INVALID_ARGUMENT, mlp([input, scale, mask, input])],
    ['a missing input', 'ModelInfer', status.INVALID_ARGUMENT, mlp([input, scale])],
    ['an input without a name', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ ...input, name: '' }, scale, mask])],
    ['an unknown output', 'ModelInfer', status.INVALID_ARGUMENT, mlp([input, scale, mask], { outputs: [{ name: 'nope' }] })],
    ['BYTES to a tensor model', 'ModelInfer', status.INVALID_ARGUMENT, mlp([{ name: 'input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('x')] } }])],
    ['INT8 out of range', 'ModelInfer', status.INVALID_ARGUMENT, { model_name: 'tiny-identity', inputs: [{ name: 'input_int8', datatype: 'INT8', shape: [1, 3], contents: { int_contents: [1, 2, 300] } }] }],
    ['raw contents of the wrong byte length', 'ModelInfer', status.INVALID_ARGUMENT, raw([{ ...rawInput!, bytes: rawInput!.bytes.subarray(0, 8) }, rawScale!, rawMask!])],
    ['fewer raw contents than inputs', 'ModelInfer', status.INVALID_ARGUMENT, raw([rawInput!, rawScale!])],
    ['typed and raw contents for one input', 'ModelInfer', status.INVALID_ARGUMENT, raw([{ tensor: { ...rawInput!.tensor, contents: input.contents }, bytes: rawInput!.bytes }, rawScale!, rawMask!])],
    ['a raw BOOL byte other than 0 or 1', 'ModelInfer', status.INVALID_ARGUMENT, raw([rawInput!, rawScale!, { ...rawMask!, bytes: Buffer.from([1, 2, 0, 1]) }])],
    ['truncated raw BYTES', 'ModelInfer', status.INVALID_ARGUMENT, { model_name: 'tiny-embed', inputs: [{ name: 'text', datatype: 'BYTES', shape: [1] }], raw_input_contents: [Buffer.from([9, 0, 0, 0, 0x61])] }],
    ['BYTES that are not UTF-8', 'ModelInfer', status.INVALID_ARGUMENT, { model_name: 'tiny-embed', inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from([0xff, 0xfe])] } }] }],
    ['a parameter without a value', 'ModelInfer', status.INVALID_ARGUMENT, mlp([input, scale, mask], { parameters: { x: {} } })],
    ['a sampling parameter out of range', 'ModelInfer', status.INVALID_ARGUMENT, { model_name: 'tiny-chat', inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('hi')] } }], parameters: { temperature: { double_param: -1 } } }],
    ['an INT64 parameter beyond 2^53', 'ModelInfer', status.INVALID_ARGUMENT, { model_name: 'tiny-embed', inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('hi')] } }], parameters: { dimensions: { int64_param: '9007199254740993' } } }],
  ];
  it.each(bad)('%s: %s answers status %i with a message', async (_, method, code, request) => {
    const err = await failure(method, request);
    expect(err.code).toBe(code);
    expect(err.details).toEqual(expect.any(String));
    expect(err.details.length).toBeGreaterThan(0);
  });

  it('still answers after the bad requests', async () => {
    expect(await call('ServerLive', {})).toEqual({ live: true });
    expect((await call('ModelInfer', mlp(mlpTyped(1, 0)))).outputs).toHaveLength(2);
  });

  it('close() closes the gRPC server with the HTTP one', async () => {
    await running.close();
    expect((await failure('ServerLive', {})).code).toBe(status.UNAVAILABLE);
  });
});

describe('without grpcPort', () => {
  it('no gRPC server starts', async () => {
    const lines: string[] = [];
    const running = await serve({ config: fixtureConfig([{ fixture: 'tiny-mlp', task: 'tensor' }]), port: 0, host: '127.0.0.1', log: (line) => lines.push(line) });
    try {
      await running.ready;
      expect(running.grpcPort).toBeUndefined();
      expect(lines.filter((l) => l.includes('gRPC'))).toEqual([]);
      // Nor does the HTTP port speak it.
      const client = connect(running.port);
      const err = await new Promise<ServiceError | null>((resolve) => client.ServerLive({}, { deadline: Date.now() + 10_000 }, (e: ServiceError | null) => resolve(e)));
      client.close();
      expect(err?.code).not.toBe(status.OK);
      expect(err?.code).toBeDefined();
    } finally {
      await running.close();
    }
  });
});

describe('with API keys', () => {
  it('every method but the probes needs a key in the metadata, as HTTP needs it in the headers', async () => {
    const grpcPort = await freePort();
    const running = await serve({ config: fixtureConfig([{ fixture: 'tiny-mlp', task: 'tensor' }]), port: 0, host: '127.0.0.1', grpcPort, apiKeys: ['sk-grpc'], log: () => {} });
    const client = connect(grpcPort);
    const call = (method: string, request: object, metadata?: Record<string, string>) =>
      new Promise<{ err: ServiceError | null; response: Json }>((resolve) => {
        const md = new Metadata();
        for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
        client[method](request, md, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, response: Json) => resolve({ err, response }));
      });
    try {
      await running.ready;
      // The probes answer anyone (kubelet and KServe's own probes send no key).
      expect((await call('ServerLive', {})).response).toEqual({ live: true });
      expect((await call('ServerReady', {})).response).toEqual({ ready: true });
      const missing = await call('ServerMetadata', {});
      expect(missing.err?.code).toBe(status.UNAUTHENTICATED);
      expect(missing.err?.details).toMatch(/Missing API key/);
      const wrong = await call('ModelMetadata', { name: 'tiny-mlp' }, { authorization: 'Bearer sk-wrong' });
      expect(wrong.err?.code).toBe(status.UNAUTHENTICATED);
      expect(wrong.err?.details).toBe('Incorrect API key provided.');
      expect((await call('ModelReady', { name: 'tiny-mlp' }, { authorization: 'Bearer sk-grpc' })).response).toEqual({ ready: true });
      expect((await call('ModelMetadata', { name: 'tiny-mlp' }, { 'x-api-key': 'sk-grpc' })).response.name).toBe('tiny-mlp');
      // HTTP keeps its own check with the same keys.
      expect((await fetch(`${running.url}/v2/models/tiny-mlp`)).status).toBe(401);
    } finally {
      client.close();
      await running.close();
    }
  });
});
