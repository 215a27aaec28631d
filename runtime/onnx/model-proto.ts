// Decodes and encodes the parts of ONNX's ModelProto a graph rewrite needs (field numbers from
// onnx/onnx.proto); every field it does not model is kept as read and written back byte-for-byte.
import { readFields, stringValue, varintValue, varintsOf, int64Value, WireType, type WireField } from './protobuf-reader.ts';
import { ProtoWriter } from './protobuf-writer.ts';

/** TensorProto.DataType codes used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;

/** AttributeProto.AttributeType codes used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, GRAPHS: 10 } as const;

/** TensorProto.DataLocation.EXTERNAL: the tensor's bytes live in another file. */
export const EXTERNAL_DATA = 1;

// Each message keeps `other`: the fields this module does not model, exactly as read. Optional
// members are undefined when the field was absent, so presence survives a round trip.

export interface OperatorSetIdProto {
  domain?: string;
  version?: number;
  other: WireField[];
}

export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: bigint;
  s?: Uint8Array;
  /** A subgraph (If's branches). */
  g?: GraphProto;
  /** Little-endian float32 values, as stored. */
  floats: Float32Array;
  ints: bigint[];
  other: WireField[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute: AttributeProto[];
  other: WireField[];
}

export interface TensorProto {
  dims: number[];
  dataType?: number;
  name?: string;
  /** A view into the decoded bytes (never copied); little-endian. */
  rawData?: Uint8Array;
  floatData: Float32Array;
  int64Data: BigInt64Array;
  dataLocation?: number;
  other: WireField[];
}

/** Graph input, output and value_info entries; the TypeProto stays in `other`, as read. */
export interface ValueInfoProto {
  name?: string;
  other: WireField[];
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  other: WireField[];
}

export interface ModelProto {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  graph: GraphProto;
  opsetImport: OperatorSetIdProto[];
  other: WireField[];
}

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;
const I32 = WireType.Fixed32;
const key = (field: number, wire: number) => field * 8 + wire;
const keyOf = (f: WireField) => key(f.field, f.wire);

function floatsFrom(words: Uint8Array[]): Float32Array {
  const total = words.reduce((n, w) => n + w.length, 0);
  const out = new Float32Array(total / 4);
  const bytes = new Uint8Array(out.buffer);
  let at = 0;
  for (const w of words) {
    bytes.set(w, at);
    at += w.length;
  }
  return out;
}

function decodeOpset(bytes: Uint8Array): OperatorSetIdProto {
  const out: OperatorSetIdProto = { other: [] };
  for (const f of readFields(bytes)) {
    switch (keyOf(f)) {
      case key(1, LEN): out.domain = stringValue(f); break;
      case key(2, VARINT): out.version = int64Value(f); break;
      default: out.other.push(f);
    }
  }
  return out;
}

function decodeAttribute(bytes: Uint8Array): AttributeProto {
  const out: AttributeProto = { floats: new Float32Array(0), ints: [], other: [] };
  const floatWords: Uint8Array[] = [];
  for (const f of readFields(bytes)) {
    switch (keyOf(f)) {
      case key(1, LEN): out.name = stringValue(f); break;
      case key(20, VARINT): out.type = int64Value(f); break;
      case key(2, I32): out.f = new DataView(f.value.buffer, f.value.byteOffset, 4).getFloat32(0, true); break;
      case key(3, VARINT): out.i = BigInt.asIntN(64, varintValue(f)); break;
      case key(4, LEN): out.s = f.value; break;
      case key(6, LEN): out.g = decodeGraph(f.value); break;
      case key(7, I32): floatWords.push(f.value); break;
      case key(8, VARINT): out.ints.push(BigInt.asIntN(64, varintValue(f))); break;
      default: out.other.push(f);
    }
  }
  if (floatWords.length > 0) out.floats = floatsFrom(floatWords);
  return out;
}

function decodeNode(bytes: Uint8Array): NodeProto {
  const out: NodeProto = { input: [], output: [], attribute: [], other: [] };
  for (const f of readFields(bytes)) {
    switch (keyOf(f)) {
      case key(1, LEN): out.input.push(stringValue(f)); break;
      case key(2, LEN): out.output.push(stringValue(f)); break;
      case key(3, LEN): out.name = stringValue(f); break;
      case key(4, LEN): out.opType = stringValue(f); break;
      case key(7, LEN): out.domain = stringValue(f); break;
      case key(5, LEN): out.attribute.push(decodeAttribute(f.value)); break;
      default: out.other.push(f);
    }
  }
  return out;
}

function decodeTensor(bytes: Uint8Array): TensorProto {
  const out: TensorProto = { dims: [], floatData: new Float32Array(0), int64Data: new BigInt64Array(0), other: [] };
  const floatWords: Uint8Array[] = [];
  const int64s: bigint[] = [];
  for (const f of readFields(bytes)) {
    switch (keyOf(f)) {
      case key(1, VARINT): out.dims.push(int64Value(f)); break;
      case key(2, VARINT): out.dataType = int64Value(f); break;
      case key(8, LEN): out.name = stringValue(f); break;
      case key(9, LEN): out.rawData = f.value; break;
      case key(4, LEN): floatWords.push(f.value); break; // packed, as onnx.proto declares it
      case key(7, LEN): for (const v of varintsOf(f)) int64s.push(BigInt.asIntN(64, v)); break;
      case key(14, VARINT): out.dataLocation = int64Value(f); break;
      default: out.other.push(f);
    }
  }
  if (floatWords.length > 0) out.floatData = floatsFrom(floatWords);
  if (int64s.length > 0) out.int64Data = BigInt64Array.from(int64s);
  return out;
}

function decodeValueInfo(bytes: Uint8Array): ValueInfoProto {
  const out: ValueInfoProto = { other: [] };
  for (const f of readFields(bytes)) {
    if (keyOf(f) === key(1, LEN)) out.name = stringValue(f);
    else out.other.push(f);
  }
  return out;
}

function decodeGraph(bytes: Uint8Array): GraphProto {
  const out: GraphProto = { node: [], initializer: [], input: [], output: [], valueInfo: [], other: [] };
  for (const f of readFields(bytes)) {
    switch (keyOf(f)) {
      case key(1, LEN): out.node.push(decodeNode(f.value)); break;
      case key(2, LEN): out.name = stringValue(f); break;
      case key(5, LEN): out.initializer.push(decodeTensor(f.value)); break;
      case key(11, LEN): out.input.push(decodeValueInfo(f.value)); break;
      case key(12, LEN): out.output.push(decodeValueInfo(f.value)); break;
      case key(13, LEN): out.valueInfo.push(decodeValueInfo(f.value)); break;
      default: out.other.push(f);
    }
  }
  return out;
}

/** Decodes a serialized ModelProto. Tensor bytes stay views into `bytes`: keep it alive and unchanged. */
export function decodeModel(input: Uint8Array): ModelProto {
  // A plain Uint8Array view, so a Node Buffer's different `slice` never leaks into the views.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const out: Omit<ModelProto, 'graph'> & { graph?: GraphProto } = { opsetImport: [], other: [] };
  for (const f of readFields(bytes)) {
    switch (keyOf(f)) {
      case key(1, VARINT): out.irVersion = int64Value(f); break;
      case key(2, LEN): out.producerName = stringValue(f); break;
      case key(3, LEN): out.producerVersion = stringValue(f); break;
      case key(7, LEN): out.graph = decodeGraph(f.value); break;
      case key(8, LEN): out.opsetImport.push(decodeOpset(f.value)); break;
      default: out.other.push(f);
    }
  }
  const { graph } = out;
  if (!graph) throw new Error('ONNX model has no graph');
  return { ...out, graph };
}

type Emit = (w: ProtoWriter) => void;

/**
 * Writes the modelled fields and the passed-through ones merged by field number (a stable sort),
 * which is the order protobuf serializers write: a canonically written message comes back as read.
 */
function inFieldOrder(known: Array<[number, Emit]>, other: readonly WireField[]): ProtoWriter {
  const items: Array<{ field: number; emit: Emit }> = known.map(([field, emit]) => ({ field, emit }));
  for (const f of other) items.push({ field: f.field, emit: (w) => w.raw(f.raw) });
  items.sort((a, b) => a.field - b.field);
  const w = new ProtoWriter();
  for (const item of items) item.emit(w);
  return w;
}

const floatBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function encodeOpset(o: OperatorSetIdProto): ProtoWriter {
  return inFieldOrder(
    [
      [1, (w) => o.domain !== undefined && w.string(1, o.domain)],
      [2, (w) => o.version !== undefined && w.varint(2, o.version)],
    ],
    o.other,
  );
}

function encodeAttribute(a: AttributeProto): ProtoWriter {
  return inFieldOrder(
    [
      [1, (w) => a.name !== undefined && w.string(1, a.name)],
      [2, (w) => a.f !== undefined && w.float(2, a.f)],
      [3, (w) => a.i !== undefined && w.varint(3, a.i)],
      [4, (w) => a.s !== undefined && w.bytes(4, a.s)],
      [6, (w) => a.g !== undefined && w.message(6, encodeGraph(a.g))],
      [7, (w) => a.floats.forEach((v) => w.float(7, v))],
      [8, (w) => a.ints.forEach((v) => w.varint(8, v))],
      [20, (w) => a.type !== undefined && w.varint(20, a.type)],
    ],
    a.other,
  );
}

function encodeNode(n: NodeProto): ProtoWriter {
  return inFieldOrder(
    [
      [1, (w) => n.input.forEach((s) => w.string(1, s))],
      [2, (w) => n.output.forEach((s) => w.string(2, s))],
      [3, (w) => n.name !== undefined && w.string(3, n.name)],
      [4, (w) => n.opType !== undefined && w.string(4, n.opType)],
      [5, (w) => n.attribute.forEach((a) => w.message(5, encodeAttribute(a)))],
      [7, (w) => n.domain !== undefined && w.string(7, n.domain)],
    ],
    n.other,
  );
}

function encodeTensor(t: TensorProto): ProtoWriter {
  return inFieldOrder(
    [
      [1, (w) => t.dims.forEach((d) => w.varint(1, d))],
      [2, (w) => t.dataType !== undefined && w.varint(2, t.dataType)],
      [4, (w) => t.floatData.length > 0 && w.bytes(4, floatBytes(t.floatData))],
      [7, (w) => t.int64Data.length > 0 && w.packedVarints(7, [...t.int64Data])],
      [8, (w) => t.name !== undefined && w.string(8, t.name)],
      [9, (w) => t.rawData !== undefined && w.bytes(9, t.rawData)],
      [14, (w) => t.dataLocation !== undefined && w.varint(14, t.dataLocation)],
    ],
    t.other,
  );
}

function encodeValueInfo(v: ValueInfoProto): ProtoWriter {
  return inFieldOrder([[1, (w) => v.name !== undefined && w.string(1, v.name)]], v.other);
}

function encodeGraph(g: GraphProto): ProtoWriter {
  return inFieldOrder(
    [
      [1, (w) => g.node.forEach((n) => w.message(1, encodeNode(n)))],
      [2, (w) => g.name !== undefined && w.string(2, g.name)],
      [5, (w) => g.initializer.forEach((t) => w.message(5, encodeTensor(t)))],
      [11, (w) => g.input.forEach((v) => w.message(11, encodeValueInfo(v)))],
      [12, (w) => g.output.forEach((v) => w.message(12, encodeValueInfo(v)))],
      [13, (w) => g.valueInfo.forEach((v) => w.message(13, encodeValueInfo(v)))],
    ],
    g.other,
  );
}

/** Encodes a ModelProto as chunks ready to write in order; tensor bytes are referenced, not copied. */
export function encodeModel(m: ModelProto): Uint8Array[] {
  return inFieldOrder(
    [
      [1, (w) => m.irVersion !== undefined && w.varint(1, m.irVersion)],
      [2, (w) => m.producerName !== undefined && w.string(2, m.producerName)],
      [3, (w) => m.producerVersion !== undefined && w.string(3, m.producerVersion)],
      [7, (w) => w.message(7, encodeGraph(m.graph))],
      [8, (w) => m.opsetImport.forEach((o) => w.message(8, encodeOpset(o)))],
    ],
    m.other,
  ).finish();
}
