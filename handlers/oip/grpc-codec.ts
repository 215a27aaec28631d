// Open Inference Protocol gRPC messages <-> the REST codecs' types: a ModelInferRequest becomes an
// InferenceRequest plus binary chunks for decodeRequest, outputs become typed or raw contents. Pure.
import { RuntimeError } from '../../runtime/index.ts';
import { datatypeOf, ELEMENT_BYTES, encodeOutputs, isOipDatatype, type OipDatatype, type OipTensor } from './tensors.ts';
import { parseInferenceRequest, quoted, type InferenceRequest, type Parameters, type ParameterValue, type RequestInput } from './wire.ts';

/**
 * How the service loads the proto: field names as written, 64-bit integers as decimal strings
 * (exact: the codec refuses the ones a number cannot hold rather than rounding them), every field
 * present, and `parameter_choice` naming the InferParameter field that is set.
 */
export const PROTO_LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

/** A 64-bit integer as loaded: a decimal string (numbers are accepted too). */
type Int64 = string | number;

/** `InferParameter`: one of five fields, named by `parameter_choice`. */
export interface GrpcParameter {
  parameter_choice?: string;
  bool_param?: boolean;
  int64_param?: Int64;
  string_param?: string;
  double_param?: number;
  uint64_param?: Int64;
}

export type GrpcParameters = Readonly<Record<string, GrpcParameter>>;

/** `InferTensorContents`: one repeated field per family of datatypes. */
export interface GrpcContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Int64[];
  uint_contents?: number[];
  uint64_contents?: Int64[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

type ContentsField = keyof GrpcContents;

const CONTENTS_FIELDS: readonly ContentsField[] = ['bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents'];

/** `ModelInferRequest.InferInputTensor`. */
export interface GrpcInferInput {
  name: string;
  datatype: string;
  shape: Int64[];
  parameters?: GrpcParameters;
  contents?: GrpcContents | null;
}

/** `ModelInferRequest`. */
export interface GrpcInferRequest {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: GrpcParameters;
  inputs?: GrpcInferInput[];
  outputs?: Array<{ name: string; parameters?: GrpcParameters }>;
  raw_input_contents?: Uint8Array[];
}

/** `ModelInferResponse.InferOutputTensor` (no parameters: the REST ones are about binary framing). */
export interface GrpcOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents?: GrpcContents;
}

/** `ModelInferResponse`. */
export interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: GrpcOutputTensor[];
  raw_output_contents: Uint8Array[];
}

/** The field that carries each datatype's typed values. FP16 has none: it travels only as raw contents. */
const CONTENTS_FIELD_OF: Readonly<Record<Exclude<OipDatatype, 'FP16'>, ContentsField>> = {
  BOOL: 'bool_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

const invalid = (message: string) => new RuntimeError('invalid_request', message);

const shapeText = (dims: readonly number[]) => `[${dims.join(',')}]`;

/** A 64-bit wire integer as a number; one beyond ±(2^53 - 1) is refused, never rounded. */
function safeInteger(where: string, value: Int64): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalid(`${where} is ${String(value).slice(0, 40)}, beyond the safe integer range ±(2^53 - 1)`);
  return n;
}

/** A 64-bit wire integer as a bigint, exactly (the loader gives decimal strings). */
function bigIntOf(where: string, value: Int64): bigint {
  try {
    return typeof value === 'number' ? BigInt(safeInteger(where, value)) : BigInt(value);
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    throw invalid(`${where} is not an integer: ${String(value).slice(0, 40)}`);
  }
}

/** One InferParameter as a plain value (what a REST client would have sent in JSON). */
function parameterValue(where: string, parameter: GrpcParameter): ParameterValue {
  switch (parameter.parameter_choice) {
    case 'bool_param':
      return parameter.bool_param === true;
    case 'string_param':
      return parameter.string_param ?? '';
    case 'int64_param':
      return safeInteger(where, parameter.int64_param ?? 0);
    case 'uint64_param':
      return safeInteger(where, parameter.uint64_param ?? 0);
    case 'double_param': {
      const value = parameter.double_param ?? 0;
      // JSON has no NaN or Infinity, so no REST parameter check was written to meet one.
      if (!Number.isFinite(value)) throw invalid(`${where} must be a finite number, got ${value}`);
      return value;
    }
    default:
      throw invalid(`${where} has no value; set one of bool_param, int64_param, string_param, double_param, uint64_param`);
  }
}

/** A parameters map as REST `$parameters` (undefined when empty). Own keys only, `__proto__` included. */
export function parametersFromGrpc(where: string, parameters: GrpcParameters | undefined): Parameters | undefined {
  const entries = Object.entries(parameters ?? {});
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([key, p]) => [key, parameterValue(`${where} ${quoted(key)}`, p)]));
}

/** The typed contents fields an input fills. */
const filledFields = (contents: GrpcContents | null | undefined): ContentsField[] => CONTENTS_FIELDS.filter((f) => (contents?.[f]?.length ?? 0) > 0);

/** The element count of a shape when every dim is valid; undefined lets the tensor decoder say what is wrong. */
const elementCount = (dims: readonly number[]): number | undefined => (dims.every((d) => d >= 0) ? dims.reduce((n, d) => n * d, 1) : undefined);

type PackedDatatype = 'INT64' | 'UINT64' | 'FP32' | 'FP64';

const PACKED: readonly OipDatatype[] = ['INT64', 'UINT64', 'FP32', 'FP64'];
const isPacked = (datatype: OipDatatype): datatype is PackedDatatype => PACKED.includes(datatype);

/**
 * Typed values that a JSON number cannot hold exactly (64-bit integers) or that the REST decoder
 * would refuse as JSON-isms (NaN and Infinity in floats), packed as the binary extension's
 * little-endian bytes.
 */
function packValues(where: string, datatype: PackedDatatype, values: ReadonlyArray<unknown>): Uint8Array {
  const size = ELEMENT_BYTES[datatype];
  const view = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((x, i) => {
    const element = `${where}: element ${i}`;
    if (datatype === 'INT64') view.setBigInt64(i * size, bigIntOf(element, x as Int64), true);
    else if (datatype === 'UINT64') view.setBigUint64(i * size, bigIntOf(element, x as Int64), true);
    else if (datatype === 'FP32') view.setFloat32(i * size, x as number, true);
    else view.setFloat64(i * size, x as number, true);
  });
  return new Uint8Array(view.buffer);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** bytes_contents as the strings they encode (MLServer's `str` codec); anything but UTF-8 is refused. */
function utf8Strings(where: string, items: readonly Uint8Array[]): string[] {
  return items.map((item, i) => {
    try {
      return utf8.decode(item);
    } catch {
      throw invalid(`${where}: contents.bytes_contents element ${i} is not valid UTF-8`);
    }
  });
}

/** One REST input (and its binary chunk, if any) for decodeRequest. */
interface RestInput {
  input: RequestInput;
  chunk?: Uint8Array;
}

const binaryInput = (name: string, datatype: string, shape: number[], chunk: Uint8Array): RestInput => ({
  input: { name, datatype, shape, parameters: { binary_data_size: chunk.length } },
  chunk,
});

/**
 * An input with typed contents: exactly the datatype's own field, holding product(shape) values.
 * BOOL, narrow integers and BYTES (as strings) go on as JSON data, so the REST decoder checks their
 * ranges; 64-bit integers and floats are packed as binary data, so 64-bit integers stay exact and
 * floats keep NaN and Infinity.
 */
function typedInput(input: GrpcInferInput, shape: number[]): RestInput {
  const where = `input ${quoted(input.name)}`;
  const { datatype, contents } = input;
  const filled = filledFields(contents);
  // An unknown datatype is named by the decoder, with the list of known ones.
  if (!isOipDatatype(datatype)) return { input: { name: input.name, datatype, shape, data: [] } };
  if (datatype === 'FP16') throw invalid(`${where}: FP16 has no typed contents field; send the request's tensors in raw_input_contents`);
  const field = CONTENTS_FIELD_OF[datatype];
  const other = filled.find((f) => f !== field);
  if (other !== undefined) throw invalid(`${where}: ${datatype} values go in contents.${field}, but contents.${other} is set`);
  const values: ReadonlyArray<unknown> = contents?.[field] ?? [];
  const count = elementCount(shape);
  if (count !== undefined && values.length !== count) {
    throw invalid(`${where}: shape ${shapeText(shape)} has ${count} elements but contents.${field} holds ${values.length}`);
  }
  if (isPacked(datatype)) return binaryInput(input.name, datatype, shape, packValues(where, datatype, values));
  const data = datatype === 'BYTES' ? utf8Strings(where, values as Uint8Array[]) : (values as Array<number | boolean>);
  return { input: { name: input.name, datatype, shape, data } };
}

/** An input whose data is `raw_input_contents[index]`: raw little-endian bytes (BYTES length-prefixed). */
function rawInput(input: GrpcInferInput, shape: number[], bytes: Uint8Array, index: number): RestInput {
  const where = `input ${quoted(input.name)}`;
  if (filledFields(input.contents).length > 0) {
    throw invalid(`${where} has typed contents, but the request sends raw_input_contents; send every input one way or the other`);
  }
  const count = elementCount(shape);
  if (isOipDatatype(input.datatype) && input.datatype !== 'BYTES' && count !== undefined && bytes.length !== count * ELEMENT_BYTES[input.datatype]) {
    throw invalid(`${where}: shape ${shapeText(shape)} of ${input.datatype} needs ${count * ELEMENT_BYTES[input.datatype]} bytes but raw_input_contents[${index}] holds ${bytes.length}`);
  }
  return binaryInput(input.name, input.datatype, shape, bytes);
}

/** A ModelInferRequest as the REST decoder's input. */
export interface RestInferCall {
  /** Validated as a REST `$inference_request` would be. */
  request: InferenceRequest;
  /** Each binary input's bytes by name, as splitBinaryRequest gives them. */
  chunks: Map<string, Uint8Array>;
  /** The request sent raw_input_contents: the response answers in raw_output_contents. */
  raw: boolean;
}

/**
 * Translates a ModelInferRequest for decodeRequest. Raw contents must come one per input, in input
 * order, and then no input may have typed contents (the proto's rule). Input and output parameters
 * are dropped: the REST ones they would map to (binary_data_size, binary_data) frame HTTP bodies.
 * Throws invalid_request naming the input or field.
 */
export function inferRequestFromGrpc(message: GrpcInferRequest): RestInferCall {
  const inputs = message.inputs ?? [];
  const raw = message.raw_input_contents ?? [];
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw invalid(`raw_input_contents holds ${raw.length} entries but the request has ${inputs.length} inputs; send one per input, in input order`);
  }
  const chunks = new Map<string, Uint8Array>();
  const restInputs = inputs.map((input, i) => {
    const shape = input.shape.map((d) => safeInteger(`input ${quoted(input.name)}: a shape dimension`, d));
    const bytes = raw[i];
    const rest = bytes === undefined ? typedInput(input, shape) : rawInput(input, shape, bytes, i);
    // A repeated name is refused by decodeRequest before it looks a chunk up.
    if (rest.chunk !== undefined) chunks.set(input.name, rest.chunk);
    return rest.input;
  });
  const parameters = parametersFromGrpc('parameter', message.parameters);
  const outputs = message.outputs ?? [];
  const request = parseInferenceRequest({
    ...(message.id ? { id: message.id } : {}),
    ...(parameters ? { parameters } : {}),
    inputs: restInputs,
    ...(outputs.length > 0 ? { outputs: outputs.map((o) => ({ name: o.name })) } : {}),
  });
  return { request, chunks, raw: raw.length > 0 };
}

/** A tensor's values in its datatype's contents field (64-bit integers as exact decimal strings). */
function typedContents(name: string, tensor: OipTensor): GrpcContents {
  const values = tensor.type === 'bytes' ? tensor.strings.length : tensor.data.length;
  if (values !== elementCount(tensor.dims)) throw new RuntimeError('internal', `output ${quoted(name)} holds ${values} values, which shape ${shapeText(tensor.dims)} does not`);
  if (tensor.type === 'bytes') return { bytes_contents: tensor.strings.map((s) => Buffer.from(s, 'utf8')) };
  const field = CONTENTS_FIELD_OF[datatypeOf(tensor) as Exclude<OipDatatype, 'FP16'>];
  const { data } = tensor;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return { [field]: Array.from(data, String) } as GrpcContents;
  if (tensor.type === 'bool') return { [field]: Array.from(data as Uint8Array, (b) => b !== 0) } as GrpcContents;
  return { [field]: Array.from(data as ArrayLike<number>) } as GrpcContents;
}

/**
 * The response for the given outputs (in order): raw_output_contents when `raw` or when an output
 * has no typed field (FP16; the proto allows no mix of the two), typed contents otherwise.
 */
export function inferResponseToGrpc(head: { model_name: string; model_version: string; id: string }, tensors: ReadonlyArray<readonly [string, OipTensor]>, raw: boolean): GrpcInferResponse {
  if (raw || tensors.some(([, t]) => t.type === 'float16')) {
    const encoded = encodeOutputs(tensors, () => true);
    return {
      ...head,
      outputs: encoded.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
      // Buffers, so protobufjs copies each in one call instead of byte by byte.
      raw_output_contents: encoded.binaries.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    };
  }
  return {
    ...head,
    outputs: tensors.map(([name, tensor]) => ({ name, datatype: datatypeOf(tensor), shape: [...tensor.dims], contents: typedContents(name, tensor) })),
    raw_output_contents: [],
  };
}
