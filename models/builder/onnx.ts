// ONNX ModelProto encoding (field numbers from onnx/onnx.proto) for graphs built by graph.ts.
import { ProtoWriter } from './protobuf.ts';

/** TensorProto.DataType codes (every numeric type and bool; no strings or complex). */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] };

export interface NodeDef {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

export interface InitializerDef {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  raw: Uint8Array;
}

export interface ValueInfoDef {
  name: string;
  dataType: DataTypeCode;
  /** Numbers are fixed sizes; strings are symbolic (dynamic) axes. */
  shape: Array<number | string>;
}

export interface GraphDef {
  name: string;
  nodes: NodeDef[];
  initializers: InitializerDef[];
  inputs: ValueInfoDef[];
  outputs: ValueInfoDef[];
}

const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function writeAttribute(w: ProtoWriter, name: string, value: AttributeValue): void {
  w.string(1, name);
  if (typeof value === 'number') w.int(3, value).int(20, ATTR.INT);
  else if (typeof value === 'string') w.string(4, value).int(20, ATTR.STRING);
  else if (Array.isArray(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, ATTR.INTS);
  } else if ('float' in value) w.float(2, value.float).int(20, ATTR.FLOAT);
  else {
    for (const v of value.floats) w.float(7, v);
    w.int(20, ATTR.FLOATS);
  }
}

function writeValueInfo(w: ProtoWriter, info: ValueInfoDef): void {
  w.string(1, info.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, info.dataType);
      tensor.message(2, (shape) => {
        for (const d of info.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** Encodes a model (ir_version 8, default-domain opset) as protobuf parts ready to write. */
export function encodeModel(graph: GraphDef, opset: number, producer: string): ProtoWriter {
  const model = new ProtoWriter();
  model.int(1, 8); // ir_version
  model.string(2, producer);
  model.string(3, '1');
  model.message(7, (g) => {
    for (const node of graph.nodes) {
      g.message(1, (n) => {
        for (const input of node.inputs) n.string(1, input);
        for (const output of node.outputs) n.string(2, output);
        n.string(3, node.name);
        n.string(4, node.opType);
        for (const [name, value] of Object.entries(node.attributes)) n.message(5, (a) => writeAttribute(a, name, value));
      });
    }
    g.string(2, graph.name);
    for (const init of graph.initializers) {
      g.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, init.dataType);
        t.string(8, init.name);
        t.bytes(9, init.raw);
      });
    }
    for (const input of graph.inputs) g.message(11, (v) => writeValueInfo(v, input));
    for (const output of graph.outputs) g.message(12, (v) => writeValueInfo(v, output));
  });
  model.message(8, (o) => o.string(1, '').int(2, opset));
  return model;
}
