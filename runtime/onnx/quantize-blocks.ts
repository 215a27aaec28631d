// Blockwise weight quantization: MatMul(A, B) with a constant FP32 weight B [K, N] becomes
// onnxruntime's MatMulNBits (com.microsoft): 4- or 8-bit weights in blocks of 32 along K, one
// float scale per block, the implicit zero point 2^(bits-1), accuracy_level 4 (the CPU's integer
// dot products on activations quantized per row and block). Blocks follow llama.cpp: q4_0 maps
// the signed value of largest magnitude to -8 (d = max / -8); q8_0 uses d = max|w| / 127.
//
// Activations are quantized per row, so a sequence's result does not depend on the rows batched
// with it (per-tensor dynamic quantization, as MatMulInteger graphs do, would break greedy batch
// invariance). A weight read through a Transpose (a tied LM head: B = table^T) is quantized
// from the table's rows, which are already MatMulNBits' per-column layout.
import { DataType, type ModelProto, type NodeProto, type TensorProto } from './model-proto.ts';
import { intAttribute, isDefaultDomain, isMatrixTranspose, makeNode, nameSource, withoutOrphans } from './graph-edit.ts';
import { bytesOf, elementCount, float32Values, rawTensor } from './tensor-data.ts';

export const BLOCK = 32;
export type Bits = 4 | 8;

export interface BlockWeight {
  /** [N, blocks, BLOCK * bits / 8]: column n's blocks along K; 4-bit pairs low nibble first. */
  packed: Uint8Array;
  /** [N * blocks]. */
  scales: Float32Array;
  blocks: number;
}

/**
 * Quantizes B [K, N]: `source` row-major [K, N], or with `transposed` row-major [N, K] (the table
 * a tied head reads through a Transpose). K is padded with zeros to whole blocks; undefined when a
 * weight is not finite.
 */
export function quantizeBlocks(source: Float32Array, k: number, n: number, bits: Bits, transposed = false): BlockWeight | undefined {
  const blocks = Math.ceil(k / BLOCK);
  const blob = (BLOCK * bits) / 8;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const column = new Float32Array(blocks * BLOCK);
  const levels = new Uint8Array(BLOCK);
  for (let col = 0; col < n; col++) {
    if (transposed) column.set(source.subarray(col * k, (col + 1) * k));
    else for (let row = 0; row < k; row++) column[row] = source[row * n + col] as number;
    for (let b = 0; b < blocks; b++) {
      let max = 0;
      for (let i = b * BLOCK; i < (b + 1) * BLOCK; i++) {
        const v = column[i] as number;
        if (!Number.isFinite(v)) return undefined;
        if (Math.abs(v) > Math.abs(max)) max = v;
      }
      const d = Math.fround(bits === 4 ? max / -8 : Math.abs(max) / 127);
      const inverse = d !== 0 ? 1 / d : 0;
      const zero = bits === 4 ? 8 : 128;
      const top = bits === 4 ? 15 : 255;
      scales[col * blocks + b] = d;
      for (let i = 0; i < BLOCK; i++) levels[i] = Math.min(top, Math.max(0, Math.round((column[b * BLOCK + i] as number) * inverse) + zero));
      const out = (col * blocks + b) * blob;
      if (bits === 8) packed.set(levels, out);
      else for (let i = 0; i < BLOCK; i += 2) packed[out + i / 2] = (levels[i] as number) | ((levels[i + 1] as number) << 4);
    }
  }
  return { packed, scales, blocks };
}

export interface BlockResult {
  model: ModelProto;
  quantized: Array<{ node: string; weight: string; k: number; n: number; bits: Bits; transposed: boolean }>;
}

export interface BlockOptions {
  /** Bits for plain weights. */
  bits: Bits;
  /** Bits for weights read through a Transpose (a tied LM head); undefined leaves them alone. */
  transposedBits?: Bits;
  /** Smallest weight, in K * N elements, worth quantizing. Default 4096. */
  minElements?: number;
}

/** Rewrites every MatMul whose B is an FP32 initializer (or its Transpose) into MatMulNBits. */
export function quantizeBlockwise(model: ModelProto, options: BlockOptions): BlockResult {
  const minElements = options.minElements ?? 4096;
  const graph = model.graph;
  const initializers = new Map<string, TensorProto>();
  for (const t of graph.initializer) if (t.name !== undefined) initializers.set(t.name, t);
  const producer = new Map<string, NodeProto>();
  for (const node of graph.node) for (const o of node.output) producer.set(o, node);
  const overridable = new Set((model.irVersion ?? 0) >= 4 ? graph.input.map((v) => v.name) : []);
  const constant = (name: string) => (overridable.has(name) ? undefined : initializers.get(name));
  const fresh = nameSource(graph);
  const nodes: NodeProto[] = [];
  const added: TensorProto[] = [];
  const done = new Map<string, { packed: string; scales: string }>();
  const sources = new Set<string>();
  const transposes = new Set<NodeProto>();
  const quantized: BlockResult['quantized'] = [];

  for (const node of graph.node) {
    const b = node.input[1];
    if (node.opType !== 'MatMul' || !isDefaultDomain(node.domain) || node.input.length !== 2 || b === undefined) {
      nodes.push(node);
      continue;
    }
    const via = producer.get(b);
    const transposed = via !== undefined && isMatrixTranspose(via) && constant(via.input[0] as string) !== undefined;
    const source = transposed ? constant(via.input[0] as string) : constant(b);
    const bits = transposed ? options.transposedBits : options.bits;
    const values = source && bits && source.dataType === DataType.FLOAT && source.dims.length === 2 ? float32Values(source) : undefined;
    if (!source || !bits || !values || values.length !== elementCount(source.dims) || values.length < minElements) {
      nodes.push(node);
      continue;
    }
    const [rows, cols] = source.dims as [number, number];
    const [k, n] = transposed ? [cols, rows] : [rows, cols];
    const sourceName = source.name as string;
    const key = `${transposed ? 'T' : 'N'}:${sourceName}`;
    let q = done.get(key);
    if (!q) {
      const weight = quantizeBlocks(values, k, n, bits, transposed);
      if (!weight) {
        nodes.push(node);
        continue;
      }
      q = { packed: fresh(`${sourceName}_q${bits}`), scales: fresh(`${sourceName}_q${bits}_scales`) };
      added.push(rawTensor(q.packed, DataType.UINT8, [n, weight.blocks, (BLOCK * bits) / 8], weight.packed), rawTensor(q.scales, DataType.FLOAT, [n * weight.blocks], bytesOf(weight.scales)));
      done.set(key, q);
    }
    sources.add(sourceName);
    if (transposed) transposes.add(via);
    const label = node.name ?? (node.output[0] as string);
    const rewritten = makeNode('MatMulNBits', fresh(`${label}_q${bits}`), [node.input[0] as string, q.packed, q.scales], [...node.output], [
      intAttribute('K', k),
      intAttribute('N', n),
      intAttribute('bits', bits),
      intAttribute('block_size', BLOCK),
      intAttribute('accuracy_level', 4),
    ]);
    nodes.push({ ...rewritten, domain: 'com.microsoft' });
    quantized.push({ node: label, weight: sourceName, k, n, bits, transposed });
  }
  if (quantized.length === 0) return { model, quantized };
  const opsetImport = model.opsetImport.some((o) => o.domain === 'com.microsoft') ? model.opsetImport : [...model.opsetImport, { domain: 'com.microsoft', version: 1, other: [] }];
  return { model: { ...model, opsetImport, graph: withoutOrphans(graph, nodes, added, transposes, sources) }, quantized };
}
