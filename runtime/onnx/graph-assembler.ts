// Builds a new ONNX graph in model-proto's types: nodes with generated names (any domain),
// initializers, and typed graph inputs and outputs. The graph rewrites (fusion) emit through it.
import { concatBytes, ProtoWriter } from './protobuf-writer.ts';
import { readFields } from './protobuf-reader.ts';
import { AttributeType, DataType, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './model-proto.ts';
import { bytesOf, rawTensor } from './tensor-data.ts';

export type Attribute = number | number[] | { float: number } | { graph: GraphProto };

const EMPTY_FLOATS = new Float32Array(0);

function attribute(name: string, value: Attribute): AttributeProto {
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: BigInt(value), floats: EMPTY_FLOATS, ints: [], other: [] };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, floats: EMPTY_FLOATS, ints: value.map(BigInt), other: [] };
  if ('graph' in value) return { name, type: AttributeType.GRAPH, g: value.graph, floats: EMPTY_FLOATS, ints: [], other: [] };
  return { name, type: AttributeType.FLOAT, f: value.float, floats: EMPTY_FLOATS, ints: [], other: [] };
}

/** A graph input or output: element type and dims (strings are symbolic). */
export function valueInfo(name: string, elemType: number, dims: ReadonlyArray<number | string>): ValueInfoProto {
  const shape = new ProtoWriter();
  for (const d of dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensor = new ProtoWriter().varint(1, elemType).message(2, shape);
  const type = new ProtoWriter().message(1, tensor);
  const field = new ProtoWriter().message(2, type);
  return { name, other: readFields(concatBytes(field.finish())) };
}

export class GraphAssembler {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[];
  private counter = 0;

  /** With a parent: a subgraph's nodes, named and with initializers in the parent (subgraphs read outer values). */
  constructor(private readonly parent?: GraphAssembler) {
    this.initializers = parent ? parent.initializers : [];
  }

  private uid(base: string): string {
    return this.parent ? this.parent.uid(base) : `${base}_${++this.counter}`;
  }

  /** An If branch: `build` adds its nodes and returns its outputs (float32 tensors of `dims`). */
  branch(name: string, dims: ReadonlyArray<number | string>, build: (g: GraphAssembler) => string[]): GraphProto {
    const child = new GraphAssembler(this);
    const outputs = build(child);
    return { name: this.uid(name), node: child.nodes, initializer: [], input: [], output: outputs.map((o) => valueInfo(o, DataType.FLOAT, dims)), valueInfo: [], other: [] };
  }

  /** A node with generated output names; returns them. */
  opN(opType: string, inputs: string[], outputCount: number, attributes: Record<string, Attribute> = {}, domain?: string): string[] {
    const name = this.uid(opType);
    const outputs = Array.from({ length: outputCount }, (_, i) => `${name}_out${i}`);
    this.nodes.push({ opType, name, domain, input: inputs, output: outputs, attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)), other: [] });
    return outputs;
  }

  op(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, domain?: string): string {
    return this.opN(opType, inputs, 1, attributes, domain)[0] as string;
  }

  /** A node whose outputs carry the given names (graph outputs). */
  opTo(opType: string, inputs: string[], outputs: string[], attributes: Record<string, Attribute> = {}, domain?: string): void {
    this.nodes.push({ opType, name: this.uid(opType), domain, input: inputs, output: outputs, attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)), other: [] });
  }

  tensor(name: string, dataType: number, dims: number[], bytes: Uint8Array): string {
    this.initializers.push(rawTensor(name, dataType, dims, bytes));
    return name;
  }

  f32(name: string, values: Float32Array, dims: number[]): string {
    return this.tensor(name, DataType.FLOAT, dims, bytesOf(values));
  }

  i64(values: number | number[]): string {
    const list = Array.isArray(values) ? values : [values];
    const data = BigInt64Array.from(list.map(BigInt));
    return this.tensor(this.uid('const_i64'), DataType.INT64, Array.isArray(values) ? [list.length] : [], new Uint8Array(data.buffer));
  }

  graph(name: string, input: ValueInfoProto[], output: ValueInfoProto[]): GraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input, output, valueInfo: [], other: [] };
  }
}

/** A model of one graph importing ai.onnx at `opset` and com.microsoft 1. */
export function modelOf(graph: GraphProto, opset: number, producer: string): ModelProto {
  return {
    irVersion: 8,
    producerName: producer,
    graph,
    opsetImport: [
      { domain: '', version: opset, other: [] },
      { domain: 'com.microsoft', version: 1, other: [] },
    ],
    other: [],
  };
}
