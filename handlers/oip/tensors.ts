// Open Inference Protocol tensor codecs: the datatype table, JSON and binary (little-endian) input
// decoding with checks that name the tensor, output encoding, and metadata shapes. Pure functions.
import { allocate, RuntimeError, type Tensor, type TensorData, type TensorInfo, type TensorType } from '../../runtime/index.ts';
import {
  binaryDataSize,
  binaryOutputSelector,
  toBinaryOutput,
  quoted,
  type InferenceRequest,
  type MetadataTensor,
  type RequestInput,
  type ResponseOutput,
  type WireTensorData,
} from './wire.ts';

/** Every OIP tensor datatype, in the spec's table order. */
export const OIP_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;

export type OipDatatype = (typeof OIP_DATATYPES)[number];

/** The datatypes with a fixed element size and a runtime TensorType (all but BYTES). */
export type NumericDatatype = Exclude<OipDatatype, 'BYTES'>;

/** OIP datatype -> runtime element type. BYTES has none: it decodes to strings. */
export const TENSOR_TYPE_OF: Readonly<Record<NumericDatatype, TensorType>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
};

/** Runtime element type -> OIP datatype. */
export const DATATYPE_OF: Readonly<Record<TensorType, NumericDatatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
};

/** Bytes per element in the binary extension (the spec's size table). */
export const ELEMENT_BYTES: Readonly<Record<NumericDatatype, number>> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
};

export const isOipDatatype = (s: string): s is OipDatatype => (OIP_DATATYPES as readonly string[]).includes(s);

/** A BYTES tensor: UTF-8 strings (MLServer's `str` codec), row-major, e.g. dims [N] or [N, 1]. */
export interface StringTensor {
  readonly type: 'bytes';
  readonly strings: readonly string[];
  readonly dims: readonly number[];
}

/** What an OIP tensor decodes to: a runtime Tensor, or strings for BYTES (`type === 'bytes'`). */
export type OipTensor = Tensor | StringTensor;

/** The OIP datatype of a decoded or produced tensor. */
export const datatypeOf = (tensor: OipTensor): OipDatatype => (tensor.type === 'bytes' ? 'BYTES' : DATATYPE_OF[tensor.type]);

/** Most dimensions a tensor may have (numpy's limit); also bounds the nested-data walk. */
export const MAX_RANK = 64;

const invalid = (message: string) => new RuntimeError('invalid_request', message);


/** Integer ranges JSON numbers may take; 64-bit kinds are limited to safe integers (exact in JSON). */
const INTEGER_RANGE: Partial<Record<NumericDatatype, readonly [number, number]>> = {
  UINT8: [0, 0xff],
  UINT16: [0, 0xffff],
  UINT32: [0, 0xffffffff],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-0x80, 0x7f],
  INT16: [-0x8000, 0x7fff],
  INT32: [-0x80000000, 0x7fffffff],
  INT64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

const shapeText = (dims: readonly unknown[]) => `[${dims.map(String).join(',')}]`;

/** A client's value in a message: JSON, cut short. */
const valueText = (x: unknown) => {
  const text = JSON.stringify(x) ?? String(x);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
};

const elementCount = (dims: readonly number[]) => dims.reduce((n, d) => n * d, 1);

function checkDatatype(where: string, datatype: string): OipDatatype {
  if (isOipDatatype(datatype)) return datatype;
  throw invalid(`${where}: unknown datatype ${valueText(datatype)}; expected one of ${OIP_DATATYPES.join(', ')}`);
}

function checkShape(where: string, shape: readonly number[]): number[] {
  if (shape.length > MAX_RANK) throw invalid(`${where}: shape has ${shape.length} dimensions; at most ${MAX_RANK} are supported`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw invalid(`${where}: shape ${shapeText(shape)} must hold non-negative integers, got ${valueText(d)}`);
    }
  }
  return [...shape];
}

/**
 * The elements of `data` in row-major order. Flat data must have exactly `count` elements; nested
 * data must be rectangular and nest exactly as the shape does (`[[1,2,3],[4,5,6]]` for [2,3]).
 */
function flatten(where: string, data: WireTensorData, dims: readonly number[]): ReadonlyArray<unknown> {
  const count = elementCount(dims);
  if (!data.some(Array.isArray)) {
    if (data.length !== count) throw invalid(`${where}: shape ${shapeText(dims)} has ${count} elements but data has ${data.length}`);
    return data;
  }
  const out: unknown[] = [];
  const walk = (node: unknown, depth: number, path: string) => {
    if (depth === dims.length) {
      if (Array.isArray(node)) throw invalid(`${where}: data${path} is an array, but shape ${shapeText(dims)} has only ${dims.length} dimensions`);
      out.push(node);
      return;
    }
    const want = dims[depth] as number;
    if (!Array.isArray(node)) {
      throw invalid(`${where}: data${path} is a value where shape ${shapeText(dims)} needs an array of ${want} (nested data must be rectangular)`);
    }
    if (node.length !== want) {
      throw invalid(`${where}: data${path} has ${node.length} elements where shape ${shapeText(dims)} needs ${want} (nested data must be rectangular)`);
    }
    node.forEach((child, i) => walk(child, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return out;
}

/** Element values checked against the datatype and stored in its typed array (or string list). */
function fromJsonValues(where: string, datatype: Exclude<OipDatatype, 'FP16'>, dims: number[], values: ReadonlyArray<unknown>): OipTensor {
  const bad = (i: number, expected: string) =>
    invalid(`${where}: element ${i} must be ${expected} (${datatype}), got ${valueText(values[i])}`);
  if (datatype === 'BYTES') {
    const strings = values.map((x, i) => {
      if (typeof x !== 'string') throw bad(i, 'a string');
      return x;
    });
    return { type: 'bytes', strings, dims };
  }
  const type = TENSOR_TYPE_OF[datatype];
  const data = allocate(type, values.length);
  if (datatype === 'BOOL') {
    values.forEach((x, i) => {
      if (typeof x !== 'boolean') throw bad(i, 'a boolean');
      data[i] = x ? 1 : 0;
    });
    return { type, data, dims };
  }
  if (datatype === 'FP32' || datatype === 'FP64') {
    values.forEach((x, i) => {
      if (typeof x !== 'number') throw bad(i, 'a number');
      // A float32 overflows to Infinity past ±3.4e38; that is a different value, not a rounding.
      if (datatype === 'FP32' && !Number.isFinite(Math.fround(x))) throw bad(i, 'a number within the FP32 range');
      data[i] = x;
    });
    return { type, data, dims };
  }
  const [min, max] = INTEGER_RANGE[datatype] as readonly [number, number];
  const big = datatype === 'INT64' || datatype === 'UINT64';
  const expected = big ? `a safe integer in [${min}, ${max}] (64-bit values beyond need binary data)` : `an integer in [${min}, ${max}]`;
  values.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw bad(i, expected);
  });
  if (big) (data as BigInt64Array | BigUint64Array).set(values.map((x) => BigInt(x as number)));
  else (data as Exclude<TensorData, BigInt64Array | BigUint64Array>).set(values as number[]);
  return { type, data, dims };
}

/**
 * One JSON input tensor (already schema-validated) as a runtime Tensor, or a StringTensor for
 * BYTES. Checks the datatype name, the shape, that the data holds product(shape) elements (flat,
 * or nested exactly as the shape), and every value against the datatype. FP16 is refused: JSON has
 * no half-float representation, so it needs the binary extension. Throws invalid_request naming
 * the input.
 */
export function decodeJsonTensor(input: RequestInput): OipTensor {
  const where = `input ${quoted(input.name)}`;
  const datatype = checkDatatype(where, input.datatype);
  if (datatype === 'FP16') {
    throw invalid(`${where}: FP16 data cannot be sent as JSON; send it as binary data (the binary tensor extension, parameters.binary_data_size)`);
  }
  const dims = checkShape(where, input.shape);
  if (input.data === undefined) throw invalid(`${where} has no data`);
  return fromJsonValues(where, datatype, dims, flatten(where, input.data, dims));
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each `size`-byte element in place: little-endian wire <-> a big-endian host. */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let at = 0; at < bytes.length; at += size) bytes.subarray(at, at + size).reverse();
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** BYTES binary data: each element a 4-byte little-endian length, then that many bytes (UTF-8 here). */
function decodeByteItems(where: string, bytes: Uint8Array, count: number, dims: readonly number[]): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const strings: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const i = strings.length;
    if (i === count) throw invalid(`${where}: shape ${shapeText(dims)} has ${count} elements but the BYTES data holds more (${bytes.length - at} bytes left over)`);
    if (at + 4 > bytes.length) throw invalid(`${where}: BYTES element ${i} is truncated: its 4-byte length prefix at offset ${at} is cut off`);
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > bytes.length) {
      throw invalid(`${where}: BYTES element ${i} is truncated: it declares ${length} bytes but ${bytes.length - at} remain`);
    }
    try {
      strings.push(utf8.decode(bytes.subarray(at, at + length)));
    } catch {
      throw invalid(`${where}: BYTES element ${i} is not valid UTF-8`);
    }
    at += length;
  }
  if (strings.length !== count) throw invalid(`${where}: shape ${shapeText(dims)} has ${count} elements but the BYTES data holds ${strings.length}`);
  return strings;
}

/**
 * One input sent as binary data: `bytes` are its raw little-endian, row-major elements (BYTES:
 * 4-byte length-prefixed items). The byte length must be exactly elements x element size (BYTES:
 * exactly product(shape) items); BOOL bytes must be 0 or 1. Copies the bytes, so the result
 * never aliases the request body. Throws invalid_request naming the input.
 */
export function decodeBinaryTensor(input: Pick<RequestInput, 'name' | 'datatype' | 'shape'>, bytes: Uint8Array): OipTensor {
  const where = `input ${quoted(input.name)}`;
  const datatype = checkDatatype(where, input.datatype);
  const dims = checkShape(where, input.shape);
  const count = elementCount(dims);
  if (datatype === 'BYTES') return { type: 'bytes', strings: decodeByteItems(where, bytes, count, dims), dims };
  const size = ELEMENT_BYTES[datatype];
  if (bytes.length !== count * size) {
    throw invalid(`${where}: shape ${shapeText(dims)} of ${datatype} needs ${count * size} bytes but binary_data_size is ${bytes.length}`);
  }
  const type = TENSOR_TYPE_OF[datatype];
  const data = allocate(type, count);
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  raw.set(bytes);
  if (!littleEndian) swapBytes(raw, size);
  if (datatype === 'BOOL') {
    const i = raw.findIndex((b) => b > 1);
    if (i >= 0) throw invalid(`${where}: BOOL element ${i} is byte ${raw[i]}; binary BOOL elements are 0 (false) or 1 (true)`);
  }
  return { type, data, dims };
}

/** An IEEE 754 half-precision float, from its 16 bits. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function checkLength(name: string, tensor: OipTensor): void {
  const length = tensor.type === 'bytes' ? tensor.strings.length : tensor.data.length;
  const count = elementCount(tensor.dims);
  if (length !== count) {
    throw new RuntimeError('internal', `output ${quoted(name)}: dims ${shapeText(tensor.dims)} have ${count} elements but its data has ${length}`);
  }
}

/** Element values as JSON: int64/uint64 as numbers (Number(bigint)), bool as booleans, FP16 decoded. */
function toJsonValues(name: string, tensor: OipTensor): Array<number | string | boolean> {
  if (tensor.type === 'bytes') return [...tensor.strings];
  const { data, type } = tensor;
  if (type === 'bool') return Array.from(data as Uint8Array, (b) => b !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  const values = type === 'float16' ? Array.from(data as Uint16Array, halfToNumber) : Array.from(data as Exclude<TensorData, BigInt64Array | BigUint64Array>);
  if (type === 'float16' || type === 'float32' || type === 'float64') {
    const i = values.findIndex((x) => !Number.isFinite(x));
    // JSON has no NaN or Infinity (JSON.stringify would write null); binary data carries them.
    if (i >= 0) {
      throw new RuntimeError(
        'unsupported',
        `output ${quoted(name)}: element ${i} is ${values[i]}, which JSON cannot represent; request this output as binary data (parameters.binary_data: true)`,
      );
    }
  }
  return values;
}

/**
 * An output as the JSON `$response_output` `{name, shape, datatype, data}`, data flat row-major.
 * FP16 outputs are decoded to numbers (JSON has no half type). Non-finite floats throw
 * RuntimeError('unsupported') naming the output, because JSON cannot carry them; dims that do not
 * match the data's length throw RuntimeError('internal').
 */
export function encodeJsonOutput(name: string, tensor: OipTensor): ResponseOutput {
  checkLength(name, tensor);
  return { name, shape: [...tensor.dims], datatype: datatypeOf(tensor), data: toJsonValues(name, tensor) };
}

/**
 * An output's raw bytes for the binary extension: little-endian row-major elements (BOOL one byte
 * each, FP16 its raw bits), BYTES as 4-byte little-endian length-prefixed UTF-8 items. On a
 * little-endian host a numeric result is a view of the tensor's memory, not a copy.
 */
export function encodeBinaryData(tensor: OipTensor): Uint8Array {
  if (tensor.type === 'bytes') {
    const items = tensor.strings.map((s) => utf8Encoder.encode(s));
    const out = new Uint8Array(items.reduce((n, item) => n + 4 + item.length, 0));
    const view = new DataView(out.buffer);
    let at = 0;
    for (const item of items) {
      view.setUint32(at, item.length, true);
      out.set(item, at + 4);
      at += 4 + item.length;
    }
    return out;
  }
  const { data } = tensor;
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (littleEndian) return raw;
  const copy = raw.slice();
  swapBytes(copy, data.BYTES_PER_ELEMENT);
  return copy;
}

/** A request's inputs decoded, with what it asked for on the way out. */
export interface DecodedRequest {
  /** Every input by name, in request order. */
  inputs: Map<string, OipTensor>;
  /** The outputs the client named, in order; undefined when it named none (return them all). */
  outputs: string[] | undefined;
  /** Whether an output goes back as binary data (its `binary_data`, else `binary_data_output`). */
  binaryOutput: (name: string) => boolean;
}

/**
 * Decodes every input of a validated request, before any inference runs: JSON `data`, or the
 * input's binary part from `chunks` (splitBinaryRequest's result) when it has binary_data_size.
 * Also checks input names are unique, that an input has data or binary data but not both, that
 * binary_data_size is not used without a binary body, and the output parameters' types.
 */
export function decodeRequest(request: InferenceRequest, chunks?: ReadonlyMap<string, Uint8Array>): DecodedRequest {
  const inputs = new Map<string, OipTensor>();
  for (const input of request.inputs) {
    const where = `input ${quoted(input.name)}`;
    if (inputs.has(input.name)) throw invalid(`${where} appears more than once`);
    const size = binaryDataSize(input);
    if (size === undefined) {
      inputs.set(input.name, decodeJsonTensor(input));
      continue;
    }
    if (input.data !== undefined) throw invalid(`${where} has both data and parameters.binary_data_size; send one or the other`);
    const chunk = chunks?.get(input.name);
    if (chunk === undefined) {
      throw invalid(`${where}: parameters.binary_data_size is set but the body has no binary data (no Inference-Header-Content-Length header)`);
    }
    inputs.set(input.name, decodeBinaryTensor(input, chunk));
  }
  const binaryOutput = binaryOutputSelector(request);
  return { inputs, outputs: request.outputs?.map((o) => o.name), binaryOutput };
}

/** The response's outputs, and the binary parts to append after its JSON (in output order). */
export interface EncodedOutputs {
  outputs: ResponseOutput[];
  /** Empty when every output is JSON: then the response is plain application/json. */
  binaries: Uint8Array[];
}

/**
 * Encodes outputs in the given order: as JSON `data`, or as binary data (no `data`, its size in
 * `parameters.binary_data_size`, bytes in `binaries`) where `binaryOutput(name)` says so.
 */
export function encodeOutputs(tensors: Iterable<readonly [string, OipTensor]>, binaryOutput: (name: string) => boolean = () => false): EncodedOutputs {
  const outputs: ResponseOutput[] = [];
  const binaries: Uint8Array[] = [];
  for (const [name, tensor] of tensors) {
    if (!binaryOutput(name)) {
      outputs.push(encodeJsonOutput(name, tensor));
      continue;
    }
    checkLength(name, tensor);
    const bytes = encodeBinaryData(tensor);
    outputs.push(toBinaryOutput({ name, shape: [...tensor.dims], datatype: datatypeOf(tensor) }, bytes.length));
    binaries.push(bytes);
  }
  return { outputs, binaries };
}

/** A model's shape for metadata: symbolic (string) or unknown (negative) dims become -1. */
export const metadataShape = (shape: ReadonlyArray<number | string>): number[] => shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));

/** A model input or output as the metadata endpoint's `$metadata_tensor`. */
export const metadataTensor = (info: TensorInfo): MetadataTensor => ({ name: info.name, datatype: DATATYPE_OF[info.type], shape: metadataShape(info.shape) });
