// Small pieces the graph rewrites share: node and attribute makers, fresh names, recognising a
// matrix Transpose, and dropping what a rewrite left unused.
import { AttributeType, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from './model-proto.ts';

export const isDefaultDomain = (domain: string | undefined) => domain === undefined || domain === '' || domain === 'ai.onnx';

export function intAttribute(name: string, value: number): AttributeProto {
  return { name, type: AttributeType.INT, i: BigInt(value), floats: new Float32Array(0), ints: [], other: [] };
}

export function makeNode(opType: string, name: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto {
  return { opType, name, input, output, attribute, other: [] };
}

/** A name generator that never repeats a name already in the graph. */
export function nameSource(graph: GraphProto): (base: string) => string {
  const taken = new Set<string>();
  for (const n of graph.node) {
    if (n.name !== undefined) taken.add(n.name);
    for (const s of [...n.input, ...n.output]) taken.add(s);
  }
  for (const t of graph.initializer) if (t.name !== undefined) taken.add(t.name);
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) if (v.name !== undefined) taken.add(v.name);
  return (base) => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
}

/** Transpose with perm [1, 0] (or no perm, which reverses a rank-2 input). */
export function isMatrixTranspose(node: NodeProto): boolean {
  if (node.opType !== 'Transpose' || !isDefaultDomain(node.domain) || node.input.length !== 1) return false;
  const perm = node.attribute.find((a) => a.name === 'perm');
  return perm === undefined || (perm.ints.length === 2 && perm.ints[0] === 1n && perm.ints[1] === 0n);
}

/** A node attribute holding graphs this module does not read: a list of graphs (GRAPHS, field 11) or a graph left undecoded. */
const hasUnparsedGraphs = (nodes: readonly NodeProto[]): boolean =>
  nodes.some((n) =>
    n.attribute.some((a) => a.type === AttributeType.GRAPHS || a.other.some((f) => f.field === 11) || (a.type === AttributeType.GRAPH && a.g === undefined) || (a.g !== undefined && hasUnparsedGraphs(a.g.node))),
  );

/** Every name the nodes read, their subgraphs' nodes included (a branch reads outer names). */
function namesRead(nodes: readonly NodeProto[], into = new Set<string>()): Set<string> {
  for (const n of nodes) {
    for (const name of n.input) into.add(name);
    for (const a of n.attribute) if (a.g !== undefined) namesRead(a.g.node, into);
  }
  return into;
}

/**
 * The rewritten graph, minus what the rewrite left unused: Transposes of quantized tables, then
 * the FP32 weights nothing else reads. A name a subgraph reads counts as read (it may be an outer
 * one); a graph with subgraphs this module cannot parse keeps everything.
 */
export function withoutOrphans(graph: GraphProto, nodes: NodeProto[], added: TensorProto[], transposes: ReadonlySet<NodeProto>, sources: ReadonlySet<string>): GraphProto {
  const pruning = !hasUnparsedGraphs(graph.node);
  const consumed = (list: NodeProto[]) => namesRead(list, new Set(graph.output.map((v) => v.name as string)));
  let kept = nodes;
  if (pruning) {
    const reads = consumed(kept);
    kept = kept.filter((n) => !(transposes.has(n) && n.output.every((o) => !reads.has(o))));
  }
  const reads = consumed(kept);
  const keptSet = new Set(kept);
  const removedOutputs = new Set(nodes.filter((n) => !keptSet.has(n)).flatMap((n) => n.output));
  const dropped = new Set(graph.initializer.filter((t) => pruning && t.name !== undefined && sources.has(t.name) && !reads.has(t.name)).map((t) => t.name));
  return {
    ...graph,
    node: kept,
    initializer: [...graph.initializer.filter((t) => !dropped.has(t.name)), ...added],
    input: graph.input.filter((v) => !dropped.has(v.name)),
    valueInfo: graph.valueInfo.filter((v) => !removedOutputs.has(v.name as string)),
  };
}

