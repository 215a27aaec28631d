// GraphBuilder: appends ONNX nodes and initializers with generated names; writes .onnx files.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataType, encodeModel, type AttributeValue, type GraphDef, type InitializerDef, type NodeDef, type ValueInfoDef } from './onnx.ts';

const OPSET = 17;
/** float32's lowest finite value: the additive mask transformers uses, so padded softmax is exact. */
export const FLOAT_MIN = -3.4028234663852886e38;

const bytesOf = (a: Float32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export class GraphBuilder {
  private readonly nodes: NodeDef[] = [];
  private readonly initializers: InitializerDef[] = [];
  private counter = 0;

  private uid(base: string): string {
    return `${base}_${++this.counter}`;
  }

  /** Adds a node with generated output names; returns its single output. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.opN(opType, inputs, 1, attributes)[0] as string;
  }

  opN(opType: string, inputs: string[], outputCount: number, attributes: Record<string, AttributeValue> = {}): string[] {
    const name = this.uid(opType);
    const outputs = Array.from({ length: outputCount }, (_, i) => `${name}_out${i}`);
    this.nodes.push({ opType, name, inputs, outputs, attributes });
    return outputs;
  }

  /** Adds a node whose outputs carry given names (graph outputs such as `logits`). */
  opTo(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    this.nodes.push({ opType, name: this.uid(opType), inputs, outputs, attributes });
    return outputs[0] as string;
  }

  weight(name: string, data: Float32Array, dims: number[]): string {
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, raw: bytesOf(data) });
    return name;
  }

  /** int64 constant; a plain number becomes a scalar (rank 0). */
  i64(values: number | number[]): string {
    const list = Array.isArray(values) ? values : [values];
    const name = this.uid('c_i64');
    this.initializers.push({ name, dataType: DataType.INT64, dims: Array.isArray(values) ? [list.length] : [], raw: bytesOf(BigInt64Array.from(list.map(BigInt))) });
    return name;
  }

  f32(value: number): string {
    const name = this.uid('c_f32');
    this.initializers.push({ name, dataType: DataType.FLOAT, dims: [], raw: bytesOf(Float32Array.of(value)) });
    return name;
  }

  graph(name: string, inputs: ValueInfoDef[], outputs: ValueInfoDef[]): GraphDef {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs };
  }
}

export function writeModel(file: string, graph: GraphDef): void {
  const proto = encodeModel(graph, OPSET, 'ovserve-fixture-builder');
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  try {
    for (const part of proto.parts) writeSync(fd, part);
  } finally {
    closeSync(fd);
  }
}
