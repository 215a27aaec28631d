// The q4 rewrite: MatMul(A, B) with a constant FP32 weight B [K, N] becomes onnxruntime's
// MatMulNBits (com.microsoft): 4-bit weights in blocks of 32 along K, one float scale per block,
// the implicit zero point 8, accuracy_level 4 (int8 activations on the CPU's integer dot
// products). Blocks are quantized as llama.cpp's q4_0 does: the signed value of largest
// magnitude maps to -8, so q = clamp(round(w / d) + 8, 0, 15) with d = max / -8.
//
// A weight read through a Transpose (the tied LM head) is left alone; the int8 rewrite then takes
// it, as llama-quantize keeps token_embd in Q8_0 for q4_0 models.
import { DataType, type ModelProto, type NodeProto, type TensorProto } from './model-proto.ts';
import { intAttribute, isDefaultDomain, makeNode, nameSource, withoutOrphans } from './graph-edit.ts';
import { bytesOf, elementCount, float32Values, rawTensor } from './tensor-data.ts';

export const Q4_BLOCK = 32;

export interface Q4Weight {
  /** [N, blocks, 16]: column n's blocks along K, two weights a byte, low nibble first. */
  packed: Uint8Array;
  /** [N * blocks]. */
  scales: Float32Array;
  blocks: number;
}

/** Quantizes B [K, N] (row-major) column by column; K is padded with zeros to whole blocks. */
export function quantizeQ4(source: Float32Array, k: number, n: number): Q4Weight | undefined {
  const blocks = Math.ceil(k / Q4_BLOCK);
  const packed = new Uint8Array(n * blocks * (Q4_BLOCK / 2));
  const scales = new Float32Array(n * blocks);
  const column = new Float32Array(blocks * Q4_BLOCK);
  for (let col = 0; col < n; col++) {
    for (let row = 0; row < k; row++) column[row] = source[row * n + col] as number;
    for (let b = 0; b < blocks; b++) {
      let max = 0;
      for (let i = b * Q4_BLOCK; i < (b + 1) * Q4_BLOCK; i++) {
        const v = column[i] as number;
        if (!Number.isFinite(v)) return undefined;
        if (Math.abs(v) > Math.abs(max)) max = v;
      }
      const d = Math.fround(max / -8);
      const inverse = d !== 0 ? 1 / d : 0;
      scales[col * blocks + b] = d;
      const out = (col * blocks + b) * (Q4_BLOCK / 2);
      for (let i = 0; i < Q4_BLOCK; i += 2) {
        const lo = Math.min(15, Math.max(0, Math.round((column[b * Q4_BLOCK + i] as number) * inverse) + 8));
        const hi = Math.min(15, Math.max(0, Math.round((column[b * Q4_BLOCK + i + 1] as number) * inverse) + 8));
        packed[out + i / 2] = lo | (hi << 4);
      }
    }
  }
  return { packed, scales, blocks };
}

export interface Q4Result {
  model: ModelProto;
  quantized: Array<{ node: string; weight: string; k: number; n: number }>;
}

/** Rewrites every MatMul whose B is a plain FP32 initializer of at least `minElements`. */
export function quantizeQ4Model(model: ModelProto, minElements = 4096): Q4Result {
  const graph = model.graph;
  const initializers = new Map<string, TensorProto>();
  for (const t of graph.initializer) if (t.name !== undefined) initializers.set(t.name, t);
  const overridable = new Set((model.irVersion ?? 0) >= 4 ? graph.input.map((v) => v.name) : []);
  const fresh = nameSource(graph);
  const nodes: NodeProto[] = [];
  const added: TensorProto[] = [];
  const done = new Map<string, { packed: string; scales: string; k: number; n: number }>();
  const sources = new Set<string>();
  const quantized: Q4Result['quantized'] = [];

  for (const node of graph.node) {
    const b = node.input[1];
    const source = node.opType === 'MatMul' && isDefaultDomain(node.domain) && node.input.length === 2 && b !== undefined && !overridable.has(b) ? initializers.get(b) : undefined;
    const values = source && source.dataType === DataType.FLOAT && source.dims.length === 2 ? float32Values(source) : undefined;
    if (!source || !values || values.length !== elementCount(source.dims) || values.length < minElements) {
      nodes.push(node);
      continue;
    }
    const [k, n] = source.dims as [number, number];
    let q = done.get(b as string);
    if (!q) {
      const weight = quantizeQ4(values, k, n);
      if (!weight) {
        nodes.push(node);
        continue;
      }
      q = { packed: fresh(`${b}_q4`), scales: fresh(`${b}_q4_scales`), k, n };
      added.push(rawTensor(q.packed, DataType.UINT8, [n, weight.blocks, Q4_BLOCK / 2], weight.packed), rawTensor(q.scales, DataType.FLOAT, [n * weight.blocks], bytesOf(weight.scales)));
      done.set(b as string, q);
    }
    sources.add(b as string);
    const label = node.name ?? (node.output[0] as string);
    const rewritten = makeNode('MatMulNBits', fresh(`${label}_q4`), [node.input[0] as string, q.packed, q.scales], [...node.output], [
      intAttribute('K', k),
      intAttribute('N', n),
      intAttribute('bits', 4),
      intAttribute('block_size', Q4_BLOCK),
      intAttribute('accuracy_level', 4),
    ]);
    nodes.push({ ...rewritten, domain: 'com.microsoft' });
    quantized.push({ node: label, weight: b as string, k, n });
  }
  if (quantized.length === 0) return { model, quantized };
  const opsetImport = model.opsetImport.some((o) => o.domain === 'com.microsoft') ? model.opsetImport : [...model.opsetImport, { domain: 'com.microsoft', version: 1, other: [] }];
  return { model: { ...model, opsetImport, graph: withoutOrphans(graph, nodes, added, new Set(), sources) }, quantized };
}
