// The int8 rewrite: MatMul(A, B) with a constant FP32 weight B [K, N] becomes onnxruntime's
// dynamic-quantization pattern, which its optimizer fuses into MatMulIntegerToFloat or
// DynamicQuantizeMatMul (com.microsoft), with B int8, symmetric, one scale per output column:
//
//   DynamicQuantizeLinear(A) -> A_q (uint8), A_scale, A_zp
//   MatMulInteger(A_q, B_q, A_zp, B_zp = 0) -> int32 -> Cast(float) -> Mul(Mul(A_scale, B_scale)) = Y
//
// Only standard ai.onnx ops (opset >= 11) are emitted, so the file stays a plain ONNX model.
import { DataType, type ModelProto, type NodeProto, type TensorProto } from './model-proto.ts';
import { quantizeColumns } from './int8-weights.ts';
import { intAttribute, isDefaultDomain, isMatrixTranspose, makeNode, nameSource, withoutOrphans } from './graph-edit.ts';
import { bytesOf, elementCount, float32Values, rawTensor } from './tensor-data.ts';

export interface Int8Options {
  /** Smallest weight, in K * N elements, worth quantizing (smaller ones stay FP32). Default 4096. */
  minElements?: number;
  /**
   * 7-bit weights ([-63, 63]) instead of [-127, 127]. For x86 CPUs with AVX2 but no VNNI, where
   * onnxruntime's u8 x s8 kernel (vpmaddubsw) can saturate int16 pair sums. Default false.
   */
  reduceRange?: boolean;
}

export interface QuantizedMatMul {
  node: string;
  weight: string;
  k: number;
  n: number;
  /** B was Transpose(initializer): a tied embedding used as the LM head. */
  transposed: boolean;
}

export interface Int8Result {
  model: ModelProto;
  quantized: QuantizedMatMul[];
  /** MatMuls left in FP32, with why (weights below minElements are not listed). */
  skipped: Array<{ node: string; reason: string }>;
}

export const DEFAULT_MIN_ELEMENTS = 4096;

interface Weight {
  source: TensorProto;
  transposed: boolean;
  /** The Transpose node B came through, when transposed. */
  via?: NodeProto;
  k: number;
  n: number;
}

interface QuantizedWeight {
  q: string;
  scale: string;
  zeroPoint: string;
}

/** Rewrites every eligible MatMul of the main graph; returns a new model (the input is not changed). */
export function quantizeInt8(model: ModelProto, options: Int8Options = {}): Int8Result {
  const minElements = options.minElements ?? DEFAULT_MIN_ELEMENTS;
  const qmax = options.reduceRange ? 63 : 127;
  const opset = model.opsetImport.find((o) => isDefaultDomain(o.domain))?.version ?? 0;
  if (opset < 11) throw new Error(`int8 quantization needs ai.onnx opset 11 or later (DynamicQuantizeLinear); this model imports opset ${opset}`);
  const graph = model.graph;

  const initializers = new Map<string, TensorProto>();
  for (const t of graph.initializer) if (t.name !== undefined) initializers.set(t.name, t);
  // From IR 4 an initializer that is also a graph input may be fed at run time: not a constant.
  const overridable = new Set((model.irVersion ?? 0) >= 4 ? graph.input.map((v) => v.name) : []);
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output) producer.set(o, n);

  const constant = (name: string) => (overridable.has(name) ? undefined : initializers.get(name));
  const weightOf = (b: string): Weight | string => {
    let source = constant(b);
    let via: NodeProto | undefined;
    if (!source) {
      const p = producer.get(b);
      if (p && isMatrixTranspose(p)) {
        source = constant(p.input[0] as string);
        via = p;
      }
    }
    if (!source) return 'B is not a constant initializer';
    if (source.dataType !== DataType.FLOAT) return `B is data type ${source.dataType}, not FP32`;
    if (source.dims.length !== 2) return `B has rank ${source.dims.length}, not 2`;
    const [rows, cols] = source.dims as [number, number];
    return via ? { source, transposed: true, via, k: cols, n: rows } : { source, transposed: false, k: rows, n: cols };
  };

  const fresh = nameSource(graph);
  const quantizedWeights = new Map<string, QuantizedWeight>();
  const newInitializers: TensorProto[] = [];
  const activationQuant = new Map<string, [string, string, string]>();
  const usedTransposes = new Set<NodeProto>();
  const quantizedSources = new Set<string>();
  const quantized: QuantizedMatMul[] = [];
  const skipped: Int8Result['skipped'] = [];
  const nodes: NodeProto[] = [];

  for (const node of graph.node) {
    if (node.opType !== 'MatMul' || !isDefaultDomain(node.domain) || node.input.length !== 2 || node.output.length !== 1) {
      nodes.push(node);
      continue;
    }
    const [a, b] = node.input as [string, string];
    const y = node.output[0] as string;
    const label = node.name ?? y;
    const weight = weightOf(b);
    if (typeof weight === 'string') {
      skipped.push({ node: label, reason: weight });
      nodes.push(node);
      continue;
    }
    if (weight.k * weight.n < minElements) {
      nodes.push(node);
      continue;
    }
    const sourceName = weight.source.name as string;
    const weightKey = `${weight.transposed ? 'T' : 'N'}:${sourceName}`;
    let qw = quantizedWeights.get(weightKey);
    if (!qw) {
      const values = float32Values(weight.source);
      if (!values || values.length !== elementCount(weight.source.dims)) {
        skipped.push({ node: label, reason: 'B data is not in the model file (external data) or does not match its dims' });
        nodes.push(node);
        continue;
      }
      const result = quantizeColumns(values, weight.k, weight.n, weight.transposed, qmax);
      if (!result) {
        skipped.push({ node: label, reason: 'B has a value that is not finite' });
        nodes.push(node);
        continue;
      }
      const base = weight.transposed ? `${sourceName}_transposed` : sourceName;
      qw = { q: fresh(`${base}_quantized`), scale: fresh(`${base}_scale`), zeroPoint: fresh(`${base}_zero_point`) };
      newInitializers.push(
        rawTensor(qw.q, DataType.INT8, [weight.k, weight.n], bytesOf(result.q)),
        rawTensor(qw.scale, DataType.FLOAT, [weight.n], bytesOf(result.scale)),
        rawTensor(qw.zeroPoint, DataType.INT8, [weight.n], new Uint8Array(weight.n)),
      );
      quantizedWeights.set(weightKey, qw);
    }
    if (weight.via) usedTransposes.add(weight.via);
    quantizedSources.add(sourceName);

    // One DynamicQuantizeLinear per activation, shared by every MatMul reading it (q/k/v, gate/up);
    // onnxruntime's common-subexpression pass would merge per-MatMul copies into this anyway.
    let aq = activationQuant.get(a);
    if (!aq) {
      aq = [fresh(`${a}_quantized`), fresh(`${a}_scale`), fresh(`${a}_zero_point`)];
      nodes.push(makeNode('DynamicQuantizeLinear', fresh(`${label}_quant_input`), [a], [...aq]));
      activationQuant.set(a, aq);
    }
    const [aQuantized, aScale, aZeroPoint] = aq;
    const scale = fresh(`${y}_scale`);
    const int32 = fresh(`${y}_int32`);
    const asFloat = fresh(`${y}_float`);
    nodes.push(
      makeNode('Mul', fresh(`${label}_quant_scale`), [aScale, qw.scale], [scale]),
      makeNode('MatMulInteger', fresh(`${label}_quant`), [aQuantized, qw.q, aZeroPoint, qw.zeroPoint], [int32]),
      makeNode('Cast', fresh(`${label}_quant_cast`), [int32], [asFloat], [intAttribute('to', DataType.FLOAT)]),
      makeNode('Mul', fresh(`${label}_quant_output`), [asFloat, scale], [y]),
    );
    quantized.push({ node: label, weight: sourceName, k: weight.k, n: weight.n, transposed: weight.transposed });
  }

  if (quantized.length === 0) return { model, quantized, skipped };

  const rewritten = withoutOrphans(graph, nodes, newInitializers, usedTransposes, quantizedSources);
  return { model: { ...model, graph: rewritten }, quantized, skipped };
}
