// Open Inference Protocol tensor codecs: JSON and binary round trips, the binary extension's
// framing, malformed tensors, and the encoded response checked against the OIP REST spec.
import Ajv2020Module from 'ajv/dist/2020.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildBinaryResponse, HEADER_LENGTH_HEADER, parseHeaderLength, splitBinaryRequest } from '../../handlers/oip/binary.ts';
import {
  DATATYPE_OF,
  decodeBinaryTensor,
  decodeJsonTensor,
  decodeRequest,
  ELEMENT_BYTES,
  encodeBinaryData,
  encodeJsonOutput,
  encodeOutputs,
  halfToNumber,
  metadataShape,
  metadataTensor,
  OIP_DATATYPES,
  TENSOR_TYPE_OF,
  type OipTensor,
} from '../../handlers/oip/tensors.ts';
import { parseInferenceRequest, type InferenceRequest, type RequestInput } from '../../handlers/oip/wire.ts';
import { RuntimeError, TENSOR_TYPES, type Tensor, type TensorData, type TensorType } from '../../runtime/index.ts';
import { SHARED_DIR } from '../helpers/paths.ts';

/** Runs `fn`, expecting a RuntimeError of `kind` whose message matches. */
function thrown(fn: () => unknown, kind = 'invalid_request'): RuntimeError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(RuntimeError);
  expect((error as RuntimeError).kind).toBe(kind);
  return error as RuntimeError;
}

const input = (fields: Partial<RequestInput>): RequestInput => ({ name: 'x', shape: [2, 2], datatype: 'FP32', ...fields }) as RequestInput;

const encoder = new TextEncoder();
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** A binary-extension request body: the JSON header, then the binary parts. */
function binaryBody(header: object, ...parts: Uint8Array[]) {
  const json = encoder.encode(JSON.stringify(header));
  return { body: concat(json, ...parts), headerLength: json.length };
}

// Every datatype JSON can carry, with values at the edges of its range, shape [2, 2].
const JSON_CASES: Array<{ datatype: string; data: Array<number | string | boolean>; type: TensorType | 'bytes'; array?: TensorData }> = [
  { datatype: 'BOOL', data: [true, false, false, true], type: 'bool', array: new Uint8Array([1, 0, 0, 1]) },
  { datatype: 'UINT8', data: [0, 1, 254, 255], type: 'uint8', array: new Uint8Array([0, 1, 254, 255]) },
  { datatype: 'UINT16', data: [0, 1, 65534, 65535], type: 'uint16', array: new Uint16Array([0, 1, 65534, 65535]) },
  { datatype: 'UINT32', data: [0, 1, 2 ** 32 - 2, 2 ** 32 - 1], type: 'uint32', array: new Uint32Array([0, 1, 2 ** 32 - 2, 2 ** 32 - 1]) },
  {
    datatype: 'UINT64',
    data: [0, 1, 2 ** 40, Number.MAX_SAFE_INTEGER],
    type: 'uint64',
    array: new BigUint64Array([0n, 1n, 2n ** 40n, BigInt(Number.MAX_SAFE_INTEGER)]),
  },
  { datatype: 'INT8', data: [-128, -1, 0, 127], type: 'int8', array: new Int8Array([-128, -1, 0, 127]) },
  { datatype: 'INT16', data: [-32768, -1, 0, 32767], type: 'int16', array: new Int16Array([-32768, -1, 0, 32767]) },
  { datatype: 'INT32', data: [-(2 ** 31), -1, 0, 2 ** 31 - 1], type: 'int32', array: new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1]) },
  {
    datatype: 'INT64',
    data: [-Number.MAX_SAFE_INTEGER, -1, 0, Number.MAX_SAFE_INTEGER],
    type: 'int64',
    array: new BigInt64Array([-BigInt(Number.MAX_SAFE_INTEGER), -1n, 0n, BigInt(Number.MAX_SAFE_INTEGER)]),
  },
  { datatype: 'FP32', data: [0, -1.5, 0.25, 65504], type: 'float32', array: new Float32Array([0, -1.5, 0.25, 65504]) },
  { datatype: 'FP64', data: [0, -1.5, 0.1, 1e300], type: 'float64', array: new Float64Array([0, -1.5, 0.1, 1e300]) },
  { datatype: 'BYTES', data: ['a', '', 'héllo', '日本語 🙂'], type: 'bytes' },
];

describe('the datatype table', () => {
  it('maps every OIP datatype but BYTES to a runtime type and back, with the spec sizes', () => {
    expect(OIP_DATATYPES).toHaveLength(13);
    for (const datatype of OIP_DATATYPES) {
      if (datatype === 'BYTES') {
        expect(datatype in TENSOR_TYPE_OF).toBe(false);
        continue;
      }
      expect(DATATYPE_OF[TENSOR_TYPE_OF[datatype]]).toBe(datatype);
    }
    for (const type of TENSOR_TYPES) expect(TENSOR_TYPE_OF[DATATYPE_OF[type]]).toBe(type);
    expect(ELEMENT_BYTES).toEqual({ BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8 });
  });

  it('gives metadata shapes with -1 for symbolic and unknown dims', () => {
    expect(metadataShape(['batch', 3, 'sequence', -1, 0])).toEqual([-1, 3, -1, -1, 0]);
    expect(metadataTensor({ name: 'logits', type: 'float32', shape: ['batch', 10] })).toEqual({ name: 'logits', datatype: 'FP32', shape: [-1, 10] });
    expect(metadataTensor({ name: 'mask', type: 'bool', shape: [1] })).toEqual({ name: 'mask', datatype: 'BOOL', shape: [1] });
  });
});

describe('JSON tensors', () => {
  it.each(JSON_CASES)('round-trips $datatype', ({ datatype, data, type, array }) => {
    const decoded = decodeJsonTensor(input({ datatype, data }));
    expect(decoded.type).toBe(type);
    expect(decoded.dims).toEqual([2, 2]);
    if (decoded.type === 'bytes') expect(decoded.strings).toEqual(data);
    else expect(decoded.data).toEqual(array);
    expect(encodeJsonOutput('y', decoded)).toEqual({ name: 'y', shape: [2, 2], datatype, data });
  });

  it('reads nested data in row-major order, the same as flat data', () => {
    const flat = decodeJsonTensor(input({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }));
    const nested = decodeJsonTensor(input({ shape: [2, 3], data: [[1, 2, 3], [4, 5, 6]] }));
    expect(nested).toEqual(flat);
    const cube = decodeJsonTensor(input({ datatype: 'INT32', shape: [2, 2, 2], data: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]] })) as Tensor;
    expect(cube.data).toEqual(new Int32Array([1, 2, 3, 4, 5, 6, 7, 8]));
    const strings = decodeJsonTensor(input({ datatype: 'BYTES', shape: [2, 1], data: [['a'], ['b']] }));
    expect(strings).toEqual({ type: 'bytes', strings: ['a', 'b'], dims: [2, 1] });
    expect(encodeJsonOutput('y', nested).data).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('takes scalars, empty tensors and MLServer-style [N, 1] BYTES', () => {
    expect((decodeJsonTensor(input({ shape: [], data: [7] })) as Tensor).data).toEqual(new Float32Array([7]));
    expect(decodeJsonTensor(input({ shape: [0, 3], data: [] })).dims).toEqual([0, 3]);
    expect((decodeJsonTensor(input({ shape: [2, 0], data: [[], []] })) as Tensor).data).toHaveLength(0);
    expect(decodeJsonTensor(input({ datatype: 'BYTES', shape: [3, 1], data: ['x', '', 'z'] }))).toEqual({ type: 'bytes', strings: ['x', '', 'z'], dims: [3, 1] });
  });

  it('stores FP32 as float32 and writes back the float32 value', () => {
    const decoded = decodeJsonTensor(input({ shape: [1], data: [0.1] }));
    expect(encodeJsonOutput('y', decoded).data).toEqual([Math.fround(0.1)]);
  });

  it('writes int64/uint64 outputs as JSON numbers and FP16 outputs as decoded numbers', () => {
    const big: Tensor = { type: 'int64', data: new BigInt64Array([-(2n ** 40n), 3n]), dims: [2] };
    expect(encodeJsonOutput('y', big).data).toEqual([-(2 ** 40), 3]);
    const half: Tensor = { type: 'float16', data: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555]), dims: [5] };
    expect(encodeJsonOutput('h', half)).toEqual({ name: 'h', shape: [5], datatype: 'FP16', data: [1, -2, 65504, 2 ** -24, halfToNumber(0x3555)] });
    expect(halfToNumber(0x3555)).toBeCloseTo(1 / 3, 3);
  });

  it('refuses NaN and Infinity in JSON outputs (JSON cannot carry them) but sends them as binary data', () => {
    const nan: Tensor = { type: 'float32', data: new Float32Array([1, Number.NaN]), dims: [2] };
    expect(thrown(() => encodeJsonOutput('logits', nan), 'unsupported').message).toBe(
      "output 'logits': element 1 is NaN, which JSON cannot represent; request this output as binary data (parameters.binary_data: true)",
    );
    const inf: Tensor = { type: 'float16', data: new Uint16Array([0xfc00]), dims: [1] };
    expect(thrown(() => encodeJsonOutput('h', inf), 'unsupported').message).toMatch(/^output 'h': element 0 is -Infinity/);
    const back = decodeBinaryTensor({ name: 'logits', datatype: 'FP32', shape: [2] }, encodeBinaryData(nan)) as Tensor;
    expect(Number.isNaN(back.data[1])).toBe(true);
  });

  it('refuses an output whose dims do not match its data as an internal error', () => {
    const wrong: Tensor = { type: 'float32', data: new Float32Array(3), dims: [2, 2] };
    expect(thrown(() => encodeJsonOutput('y', wrong), 'internal').message).toBe("output 'y': dims [2,2] have 4 elements but its data has 3");
  });
});

describe('binary tensors', () => {
  it.each(JSON_CASES)('round-trips $datatype', ({ datatype, data }) => {
    const tensor = decodeJsonTensor(input({ datatype, data }));
    const bytes = encodeBinaryData(tensor);
    if (datatype !== 'BYTES') expect(bytes.length).toBe(4 * ELEMENT_BYTES[datatype as keyof typeof ELEMENT_BYTES]);
    expect(decodeBinaryTensor({ name: 'x', datatype, shape: [2, 2] }, bytes)).toEqual(tensor);
  });

  it('round-trips FP16 as raw half-float bits', () => {
    const bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000]);
    const bytes = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c, 0x00, 0x80]);
    const decoded = decodeBinaryTensor({ name: 'h', datatype: 'FP16', shape: [2, 3] }, bytes) as Tensor;
    expect(decoded).toEqual({ type: 'float16', data: bits, dims: [2, 3] });
    expect(encodeBinaryData(decoded)).toEqual(bytes);
    expect([...bits].map(halfToNumber)).toEqual([1, -2, 65504, 2 ** -24, Infinity, -0]);
  });

  it('lays numbers out little-endian and reads them from unaligned slices', () => {
    const int32: Tensor = { type: 'int32', data: new Int32Array([1, -2]), dims: [2] };
    expect([...encodeBinaryData(int32)]).toEqual([1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
    const fp32: Tensor = { type: 'float32', data: new Float32Array([1]), dims: [1] };
    expect([...encodeBinaryData(fp32)]).toEqual([0, 0, 0x80, 0x3f]);
    const body = new Uint8Array([9, 9, 9, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    const decoded = decodeBinaryTensor({ name: 'x', datatype: 'FP64', shape: [1] }, body.subarray(3)) as Tensor;
    expect(decoded.data).toEqual(new Float64Array([1]));
    body[3] = 1;
    expect(decoded.data[0]).toBe(1); // a copy, not a view of the body
  });

  it('frames BYTES as 4-byte little-endian lengths, UTF-8 multibyte and empty strings included', () => {
    const strings = ['a', '', 'é', '日本', '🙂', '\uFEFFbom'];
    const tensor: OipTensor = { type: 'bytes', strings, dims: [6] };
    const bytes = encodeBinaryData(tensor);
    expect([...bytes.subarray(0, 9)]).toEqual([1, 0, 0, 0, 0x61, 0, 0, 0, 0]);
    expect([...bytes.subarray(9, 15)]).toEqual([2, 0, 0, 0, 0xc3, 0xa9]);
    expect(bytes.length).toBe(strings.reduce((n, s) => n + 4 + encoder.encode(s).length, 0));
    expect(decodeBinaryTensor({ name: 's', datatype: 'BYTES', shape: [3, 2] }, bytes)).toEqual({ type: 'bytes', strings, dims: [3, 2] });
    expect(decodeBinaryTensor({ name: 's', datatype: 'BYTES', shape: [0] }, new Uint8Array(0))).toEqual({ type: 'bytes', strings: [], dims: [0] });
  });
});

// Each malformed JSON tensor, the exact start of its message (always naming the input).
const MALFORMED_JSON: Array<[string, Partial<RequestInput>, string | RegExp]> = [
  ['an unknown datatype', { datatype: 'FLOAT32', data: [1, 2, 3, 4] }, /^input 'x': unknown datatype "FLOAT32"; expected one of BOOL, UINT8/],
  ['a lower-case datatype', { datatype: 'fp32', data: [1, 2, 3, 4] }, /^input 'x': unknown datatype "fp32"/],
  ['fewer elements than the shape', { shape: [2, 3], data: [1, 2, 3, 4, 5] }, "input 'x': shape [2,3] has 6 elements but data has 5"],
  ['more elements than the shape', { shape: [3], data: [1, 2, 3, 4] }, "input 'x': shape [3] has 3 elements but data has 4"],
  ['a negative dim', { shape: [2, -1], data: [1, 2] }, "input 'x': shape [2,-1] must hold non-negative integers, got -1"],
  ['a fractional dim', { shape: [1.5], data: [1] }, "input 'x': shape [1.5] must hold non-negative integers, got 1.5"],
  ['a dim beyond safe integers', { shape: [2 ** 60], data: [1] }, /^input 'x': shape \[1152921504606847000\] must hold non-negative integers/],
  ['too many dims', { shape: new Array(65).fill(1), data: [1] }, "input 'x': shape has 65 dimensions; at most 64 are supported"],
  ['non-rectangular nested data', { shape: [2, 3], data: [[1, 2, 3], [4, 5]] }, /^input 'x': data\[1\] has 2 elements where shape \[2,3\] needs 3 \(nested data must be rectangular\)/],
  ['nested data that nests another shape', { shape: [2, 3], data: [[1, 2], [3, 4], [5, 6]] }, /^input 'x': data has 3 elements where shape \[2,3\] needs 2/],
  ['nested data deeper than the shape', { shape: [2], data: [[1], [2]] }, /^input 'x': data\[0\] is an array, but shape \[2\] has only 1 dimensions/],
  ['data mixing values and arrays', { shape: [2, 1], data: [[1], 2] }, /^input 'x': data\[1\] is a value where shape \[2,1\] needs an array of 1/],
  ['INT8 out of range', { datatype: 'INT8', shape: [2], data: [1, 300] }, "input 'x': element 1 must be an integer in [-128, 127] (INT8), got 300"],
  ['INT8 below range', { datatype: 'INT8', shape: [1], data: [-129] }, "input 'x': element 0 must be an integer in [-128, 127] (INT8), got -129"],
  ['a negative UINT8', { datatype: 'UINT8', shape: [1], data: [-1] }, "input 'x': element 0 must be an integer in [0, 255] (UINT8), got -1"],
  ['UINT32 past 2^32-1', { datatype: 'UINT32', shape: [1], data: [2 ** 32] }, "input 'x': element 0 must be an integer in [0, 4294967295] (UINT32), got 4294967296"],
  ['a fractional INT32', { datatype: 'INT32', shape: [2], data: [1, 1.5] }, "input 'x': element 1 must be an integer in [-2147483648, 2147483647] (INT32), got 1.5"],
  ['an INT64 beyond safe integers', { datatype: 'INT64', shape: [1], data: [2 ** 53] }, /^input 'x': element 0 must be a safe integer in \[-9007199254740991, 9007199254740991\] \(64-bit values beyond need binary data\) \(INT64\)/],
  ['a negative UINT64', { datatype: 'UINT64', shape: [1], data: [-1] }, /^input 'x': element 0 must be a safe integer in \[0, 9007199254740991\]/],
  ['a boolean in INT32', { datatype: 'INT32', shape: [1], data: [true] }, "input 'x': element 0 must be an integer in [-2147483648, 2147483647] (INT32), got true"],
  ['a string in INT64', { datatype: 'INT64', shape: [1], data: ['1'] }, /^input 'x': element 0 must be a safe integer .* got "1"$/],
  ['a string in FP32', { shape: [2], data: [1, 'abc'] }, 'input \'x\': element 1 must be a number (FP32), got "abc"'],
  ['a boolean in FP64', { datatype: 'FP64', shape: [1], data: [false] }, "input 'x': element 0 must be a number (FP64), got false"],
  ['FP32 beyond the float32 range', { shape: [1], data: [1e39] }, "input 'x': element 0 must be a number within the FP32 range (FP32), got 1e+39"],
  ['a number in BYTES', { datatype: 'BYTES', shape: [2], data: ['a', 5] }, "input 'x': element 1 must be a string (BYTES), got 5"],
  ['a number in BOOL', { datatype: 'BOOL', shape: [1], data: [1] }, "input 'x': element 0 must be a boolean (BOOL), got 1"],
  ['a string in BOOL', { datatype: 'BOOL', shape: [1], data: ['true'] }, 'input \'x\': element 0 must be a boolean (BOOL), got "true"'],
  ['null in nested data', { shape: [1, 1], data: [[null as unknown as number]] }, "input 'x': element 0 must be a number (FP32), got null"],
  ['FP16 in JSON', { datatype: 'FP16', shape: [1], data: [1] }, /^input 'x': FP16 data cannot be sent as JSON; send it as binary data/],
  ['no data at all', { shape: [1] }, "input 'x' has no data"],
];

describe('malformed JSON tensors', () => {
  it.each(MALFORMED_JSON)('rejects %s, naming the input', (_, fields, message) => {
    const error = thrown(() => decodeJsonTensor(input(fields)));
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });

  it('quotes long names short', () => {
    expect(thrown(() => decodeJsonTensor(input({ name: 'n'.repeat(500), datatype: 'X', data: [] }))).message).toMatch(/^input 'n{80}…': unknown/);
  });
});

const MALFORMED_BINARY: Array<[string, string, number[], Uint8Array, string | RegExp]> = [
  ['too few bytes for FP32', 'FP32', [2, 3], new Uint8Array(20), "input 'x': shape [2,3] of FP32 needs 24 bytes but binary_data_size is 20"],
  ['too many bytes for INT64', 'INT64', [1], new Uint8Array(9), "input 'x': shape [1] of INT64 needs 8 bytes but binary_data_size is 9"],
  ['a BOOL byte other than 0 or 1', 'BOOL', [3], new Uint8Array([0, 1, 2]), "input 'x': BOOL element 2 is byte 2; binary BOOL elements are 0 (false) or 1 (true)"],
  ['an unknown datatype', 'STRING', [1], new Uint8Array(1), /^input 'x': unknown datatype "STRING"/],
  ['a negative dim', 'UINT8', [-1], new Uint8Array(0), "input 'x': shape [-1] must hold non-negative integers, got -1"],
  ['a BYTES length prefix cut off', 'BYTES', [2], new Uint8Array([1, 0, 0, 0, 0x61, 1, 0]), "input 'x': BYTES element 1 is truncated: its 4-byte length prefix at offset 5 is cut off"],
  ['a BYTES item cut off', 'BYTES', [1], new Uint8Array([5, 0, 0, 0, 0x61, 0x62]), "input 'x': BYTES element 0 is truncated: it declares 5 bytes but 2 remain"],
  ['fewer BYTES items than the shape', 'BYTES', [3], new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0]), "input 'x': shape [3] has 3 elements but the BYTES data holds 2"],
  ['more BYTES items than the shape', 'BYTES', [1], new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0]), "input 'x': shape [1] has 1 elements but the BYTES data holds more (4 bytes left over)"],
  ['BYTES that are not UTF-8', 'BYTES', [1], new Uint8Array([2, 0, 0, 0, 0xc3, 0x28]), "input 'x': BYTES element 0 is not valid UTF-8"],
];

describe('malformed binary tensors', () => {
  it.each(MALFORMED_BINARY)('rejects %s, naming the input', (_, datatype, shape, bytes, message) => {
    const error = thrown(() => decodeBinaryTensor({ name: 'x', datatype, shape }, bytes));
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });
});

describe('decodeRequest', () => {
  const request = (body: unknown): InferenceRequest => parseInferenceRequest(body);

  it('decodes every input by name and reports the outputs asked for', () => {
    const decoded = decodeRequest(
      request({
        id: '42',
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
          { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, false, true], parameters: { content_type: 'np' } },
          { name: 'text', shape: [1, 1], datatype: 'BYTES', data: [['hi']] },
        ],
        outputs: [{ name: 'output0' }],
      }),
    );
    expect([...decoded.inputs.keys()]).toEqual(['input0', 'input1', 'text']);
    expect(decoded.inputs.get('input0')).toEqual({ type: 'uint32', data: new Uint32Array([1, 2, 3, 4]), dims: [2, 2] });
    expect(decoded.inputs.get('text')).toEqual({ type: 'bytes', strings: ['hi'], dims: [1, 1] });
    expect(decoded.outputs).toEqual(['output0']);
    expect(decoded.binaryOutput('output0')).toBe(false);
    expect(decodeRequest(request({ inputs: [] })).outputs).toBeUndefined();
  });

  it('chooses binary outputs: the output own binary_data first, then binary_data_output', () => {
    const { binaryOutput } = decodeRequest(
      request({ inputs: [], parameters: { binary_data_output: true }, outputs: [{ name: 'a', parameters: { binary_data: false } }, { name: 'b' }] }),
    );
    expect([binaryOutput('a'), binaryOutput('b'), binaryOutput('c')]).toEqual([false, true, true]);
    expect(decodeRequest(request({ inputs: [], outputs: [{ name: 'a', parameters: { binary_data: true } }] })).binaryOutput('a')).toBe(true);
  });

  it.each<[string, unknown, string | RegExp]>([
    [
      'binary_data_size on a non-binary body',
      { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] },
      "input 'x': parameters.binary_data_size is set but the body has no binary data (no Inference-Header-Content-Length header)",
    ],
    ['a duplicate input name', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }, { name: 'x', shape: [1], datatype: 'FP32', data: [2] }] }, "input 'x' appears more than once"],
    ['a negative binary_data_size', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: -4 } }] }, "input 'x': parameters.binary_data_size must be a non-negative integer, got -4"],
    ['a string binary_data_size', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: '4' } }] }, 'input \'x\': parameters.binary_data_size must be a non-negative integer, got "4"'],
    ['a malformed second input', { inputs: [{ name: 'a', shape: [1], datatype: 'FP32', data: [1] }, { name: 'b', shape: [1], datatype: 'INT8', data: [1000] }] }, /^input 'b': element 0/],
    ['a non-boolean binary_data', { inputs: [], outputs: [{ name: 'y', parameters: { binary_data: 1 } }] }, "output 'y': parameters.binary_data must be a boolean, got 1"],
    ['a non-boolean binary_data_output', { inputs: [], parameters: { binary_data_output: 'yes' } }, 'parameters.binary_data_output must be a boolean, got "yes"'],
    ['an output asked for twice', { inputs: [], outputs: [{ name: 'y' }, { name: 'y' }] }, "output 'y' is requested more than once"],
  ])('rejects %s', (_, body, message) => {
    const error = thrown(() => decodeRequest(request(body)));
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });

  it('rejects an input with both data and binary data', () => {
    const { body, headerLength } = binaryBody({ inputs: [{ name: 'x', shape: [1], datatype: 'UINT8', data: [1], parameters: { binary_data_size: 1 } }] }, new Uint8Array([1]));
    const { request: parsed, chunks } = splitBinaryRequest(body, headerLength);
    expect(thrown(() => decodeRequest(parsed, chunks)).message).toBe("input 'x' has both data and parameters.binary_data_size; send one or the other");
  });
});

describe('the inference request schema', () => {
  it.each<[string, unknown, string | RegExp]>([
    ['inputs missing', { id: '1' }, "Missing required field 'inputs'."],
    ['an input without a name', { inputs: [{ shape: [1], datatype: 'FP32', data: [1] }] }, "Missing required field 'inputs[0].name'."],
    ['a shape of strings', { inputs: [{ name: 'x', shape: ['2'], datatype: 'FP32', data: [1] }] }, /^Invalid 'inputs\[0\]\.shape\[0\]'/],
    ['data that is not an array', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: 1 }] }, "Invalid 'inputs[0].data': must be an array (flat or nested)"],
    ['a nested parameter value', { inputs: [], parameters: { a: { b: 1 } } }, "Invalid 'parameters': parameter values must be strings, numbers or booleans"],
    ['an array as the request', [], "Invalid inference request: must be an object"],
  ])('rejects %s', (_, body, message) => {
    const error = thrown(() => parseInferenceRequest(body));
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });

  it('keeps every parameter, __proto__ included, and ignores unknown keys', () => {
    const parsed = parseInferenceRequest(JSON.parse('{"inputs":[],"extra":1,"parameters":{"__proto__":"x","n":1,"b":true}}'));
    expect(Object.keys(parsed.parameters ?? {})).toEqual(['__proto__', 'n', 'b']);
    expect('extra' in parsed).toBe(false);
  });
});

describe('the binary tensor extension', () => {
  it('splits a request: JSON header, then binary inputs in input order, JSON inputs mixed in', () => {
    const strings = encodeBinaryData({ type: 'bytes', strings: ['héllo', ''], dims: [2] });
    const floats = new Uint8Array(new Float32Array([1.5, -2]).buffer);
    const half = new Uint8Array([0x00, 0x3c]);
    const { body, headerLength } = binaryBody(
      {
        id: 'r1',
        inputs: [
          { name: 'f', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: floats.length } },
          { name: 'j', shape: [2], datatype: 'INT64', data: [1, -1] },
          { name: 's', shape: [2, 1], datatype: 'BYTES', parameters: { binary_data_size: strings.length } },
          { name: 'h', shape: [1], datatype: 'FP16', parameters: { binary_data_size: 2 } },
          { name: 'e', shape: [0], datatype: 'INT32', parameters: { binary_data_size: 0 } },
        ],
      },
      floats,
      strings,
      half,
    );
    const { request, chunks } = splitBinaryRequest(body, headerLength);
    expect(request.id).toBe('r1');
    expect([...chunks.keys()]).toEqual(['f', 's', 'h', 'e']);
    const { inputs } = decodeRequest(request, chunks);
    expect(inputs.get('f')).toEqual({ type: 'float32', data: new Float32Array([1.5, -2]), dims: [1, 2] });
    expect(inputs.get('j')).toEqual({ type: 'int64', data: new BigInt64Array([1n, -1n]), dims: [2] });
    expect(inputs.get('s')).toEqual({ type: 'bytes', strings: ['héllo', ''], dims: [2, 1] });
    expect(inputs.get('h')).toEqual({ type: 'float16', data: new Uint16Array([0x3c00]), dims: [1] });
    expect(inputs.get('e')).toEqual({ type: 'int32', data: new Int32Array(0), dims: [0] });
  });

  it('accepts a body that is all JSON header', () => {
    const { body, headerLength } = binaryBody({ inputs: [{ name: 'x', shape: [1], datatype: 'BOOL', data: [true] }] });
    const { request, chunks } = splitBinaryRequest(body, headerLength);
    expect(chunks.size).toBe(0);
    expect(decodeRequest(request, chunks).inputs.get('x')).toEqual({ type: 'bool', data: new Uint8Array([1]), dims: [1] });
  });

  const oneInput = (size: number) => ({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: size } }] });

  it.each<[string, () => unknown, string | RegExp]>([
    ['a header length larger than the body', () => splitBinaryRequest(new Uint8Array(10), 11), 'Inference-Header-Content-Length is 11 but the body has only 10 bytes'],
    ['a negative header length', () => splitBinaryRequest(new Uint8Array(10), -1), 'Inference-Header-Content-Length must be a non-negative integer, got -1'],
    ['a fractional header length', () => splitBinaryRequest(new Uint8Array(10), 2.5), 'Inference-Header-Content-Length must be a non-negative integer, got 2.5'],
    ['a NaN header length', () => splitBinaryRequest(new Uint8Array(10), Number.NaN), 'Inference-Header-Content-Length must be a non-negative integer, got NaN'],
    ['an unparseable JSON header', () => splitBinaryRequest(encoder.encode('{"inputs": [ \x00\x00'), 14), /^The JSON header \(the first 14 bytes, per Inference-Header-Content-Length\) is not valid UTF-8 JSON$/],
    ['a header cut inside the JSON', () => { const b = binaryBody(oneInput(8), new Uint8Array(8)); return splitBinaryRequest(b.body, b.headerLength - 1); }, /is not valid UTF-8 JSON$/],
    ['a header that is not UTF-8', () => splitBinaryRequest(new Uint8Array([0x22, 0xff, 0x22]), 3), /is not valid UTF-8 JSON$/],
    ['an empty header', () => splitBinaryRequest(new Uint8Array(4), 0), /^The JSON header \(the first 0 bytes/],
    ['a header too deep', () => { const b = binaryBody({ inputs: [], parameters: JSON.parse('['.repeat(70) + ']'.repeat(70)) }); return splitBinaryRequest(b.body, b.headerLength); }, 'The JSON header nests deeper than 64 levels'],
    ['a header that is not an inference request', () => { const b = binaryBody({ input: [] }); return splitBinaryRequest(b.body, b.headerLength); }, "Missing required field 'inputs'."],
    ['binary data shorter than binary_data_size', () => { const b = binaryBody(oneInput(8), new Uint8Array(7)); return splitBinaryRequest(b.body, b.headerLength); }, "input 'x': binary_data_size 8 runs past the end of the body (7 bytes remain)"],
    ['bytes left over after the binary inputs', () => { const b = binaryBody(oneInput(8), new Uint8Array(9)); return splitBinaryRequest(b.body, b.headerLength); }, "The body has 1 bytes after the JSON header and binary inputs that no input's binary_data_size accounts for"],
    ['binary data with no binary input', () => { const b = binaryBody({ inputs: [] }, new Uint8Array(3)); return splitBinaryRequest(b.body, b.headerLength); }, /^The body has 3 bytes after the JSON header/],
    ['two binary inputs of one name', () => { const b = binaryBody({ inputs: [...oneInput(4).inputs, ...oneInput(4).inputs] }, new Uint8Array(8)); return splitBinaryRequest(b.body, b.headerLength); }, "input 'x' appears more than once"],
    ['a bad binary_data_size', () => { const b = binaryBody(oneInput(1.5), new Uint8Array(2)); return splitBinaryRequest(b.body, b.headerLength); }, "input 'x': parameters.binary_data_size must be a non-negative integer, got 1.5"],
    ['a binary size that does not fit the shape', () => { const b = binaryBody(oneInput(4), new Uint8Array(4)); const s = splitBinaryRequest(b.body, b.headerLength); return decodeRequest(s.request, s.chunks); }, "input 'x': shape [2] of FP32 needs 8 bytes but binary_data_size is 4"],
    ['a header length that is not a number', () => parseHeaderLength('12abc'), 'Inference-Header-Content-Length must be a non-negative integer, got "12abc"'],
    ['a signed header length', () => parseHeaderLength('-1'), /must be a non-negative integer, got "-1"$/],
    ['a header length in exponent form', () => parseHeaderLength('1e3'), /got "1e3"$/],
    ['a hex header length', () => parseHeaderLength('0x10'), /got "0x10"$/],
    ['an empty header length', () => parseHeaderLength(''), /got ""$/],
  ])('rejects %s', (_, fn, message) => {
    const error = thrown(fn);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });

  it('parses the header length header', () => {
    expect(HEADER_LENGTH_HEADER).toBe('Inference-Header-Content-Length');
    expect(parseHeaderLength('123')).toBe(123);
    expect(parseHeaderLength(' 0 ')).toBe(0);
  });

  it('builds a response: binary outputs without data, sized, appended in order; JSON outputs inline', () => {
    const request = parseInferenceRequest({
      inputs: [],
      parameters: { binary_data_output: true },
      outputs: [{ name: 'probs' }, { name: 'label', parameters: { binary_data: false } }, { name: 'names' }],
    });
    const { binaryOutput } = decodeRequest(request);
    const probs: Tensor = { type: 'float32', data: new Float32Array([0.25, Number.NaN]), dims: [1, 2] };
    const label: Tensor = { type: 'int64', data: new BigInt64Array([7n]), dims: [1] };
    const names: OipTensor = { type: 'bytes', strings: ['猫', ''], dims: [2] };
    const { outputs, binaries } = encodeOutputs(
      [
        ['probs', probs],
        ['label', label],
        ['names', names],
      ],
      binaryOutput,
    );
    expect(outputs).toEqual([
      { name: 'probs', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
      { name: 'label', shape: [1], datatype: 'INT64', data: [7] },
      { name: 'names', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 4 + 3 + 4 } },
    ]);
    const header = { model_name: 'm', id: 'r1', outputs };
    const response = buildBinaryResponse(header, binaries);
    expect(response.headers).toEqual({ 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(response.headerLength) });
    expect(response.body.length).toBe(response.headerLength + 8 + 11);

    // Read back as a client does: JSON header, then each binary output's bytes in order.
    const json = JSON.parse(new TextDecoder().decode(response.body.subarray(0, response.headerLength))) as typeof header;
    expect(json).toEqual(header);
    let at = response.headerLength;
    const back = json.outputs.flatMap((o) => {
      const size = o.parameters?.binary_data_size;
      if (typeof size !== 'number') return [];
      const tensor = decodeBinaryTensor(o, response.body.subarray(at, at + size));
      at += size;
      return [tensor];
    });
    expect(at).toBe(response.body.length);
    expect(back[0]).toEqual(probs);
    expect(back[1]).toEqual(names);
  });

  it('encodes all outputs as JSON when no binary output is asked for', () => {
    const { outputs, binaries } = encodeOutputs(new Map<string, OipTensor>([['y', { type: 'uint8', data: new Uint8Array([1, 2]), dims: [2] }]]));
    expect(outputs).toEqual([{ name: 'y', shape: [2], datatype: 'UINT8', data: [1, 2] }]);
    expect(binaries).toEqual([]);
  });
});

// The OIP REST spec's schemas, loaded the way test/helpers/specs.ts loads the others.
const OIP_SPEC = join(SHARED_DIR, 'specs', 'open_inference_rest.yaml');
const Ajv2020 = Ajv2020Module.default;

describe.skipIf(!existsSync(OIP_SPEC))('against the OIP REST spec', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const doc = parse(readFileSync(OIP_SPEC, 'utf8')) as { components: unknown };
  ajv.addSchema({ $id: 'oip', components: doc.components });
  const errors = (name: string, value: unknown) => {
    const validate = ajv.getSchema(`oip#/components/schemas/${name}`);
    if (!validate) throw new Error(`no schema ${name}`);
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
  };

  it('a decoded-then-encoded response is an inference_response; the request was an inference_request', () => {
    const body = {
      id: '42',
      inputs: JSON_CASES.filter((c) => c.datatype !== 'BYTES').map((c, i) => ({ name: `in${i}`, shape: [2, 2], datatype: c.datatype, data: [[c.data[0], c.data[1]], [c.data[2], c.data[3]]] })),
      outputs: [{ name: 'in0', parameters: { binary_data: true } }],
    };
    body.inputs.push({ name: 'text', shape: [2, 2], datatype: 'BYTES', data: [['a', ''], ['é', '🙂']] });
    expect(errors('inference_request', body)).toEqual([]);
    const decoded = decodeRequest(parseInferenceRequest(body));
    const { outputs } = encodeOutputs(decoded.inputs, decoded.binaryOutput);
    const response = { model_name: 'm', id: body.id, outputs: outputs.filter((o) => o.data !== undefined) };
    expect(response.outputs).toHaveLength(body.inputs.length - 1);
    expect(errors('inference_response', response)).toEqual([]);
    // A binary output has no `data`, which the spec's response_output requires: the extension's departure.
    expect(errors('response_output', outputs[0])).not.toEqual([]);
    expect(errors('metadata_tensor', metadataTensor({ name: 'x', type: 'float16', shape: ['batch', 4] }))).toEqual([]);
  });
});
