// Reads a Llama-family decoder's weights out of an ONNX graph by their Hugging Face names, so the
// fused graph can be rebuilt from them. Each linear weight's orientation is read from how the graph
// uses it (MatMul B as stored, through a Transpose, or Gemm transB), never guessed from its dims.
import { DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from './model-proto.ts';
import { float32Values } from './tensor-data.ts';
import type { LlamaLayerWeights, LlamaShape, LlamaWeights } from './fused-llama.ts';

/** Architectures whose decoder layer is exactly the one fused-llama.ts writes. */
const LLAMA_TYPES = new Set(['llama', 'mistral', 'smollm', 'smollm2']);

type Config = Record<string, unknown>;

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The fused graph's shape from config.json, or why this model is not one fusion covers. */
export function llamaShapeOf(config: Config): LlamaShape | string {
  const type = String(config.model_type ?? '');
  if (!LLAMA_TYPES.has(type)) return `model_type "${type}" is not a Llama-family decoder`;
  if ((config.hidden_act ?? 'silu') !== 'silu') return `hidden_act "${String(config.hidden_act)}" is not silu`;
  if (config.rope_scaling !== undefined && config.rope_scaling !== null) return 'rope_scaling is not supported by the fused graph';
  if (config.attention_bias === true || config.mlp_bias === true) return 'biased projections are not supported by the fused graph';
  const heads = num(config.num_attention_heads);
  const hidden = num(config.hidden_size);
  const layers = num(config.num_hidden_layers);
  const vocab = num(config.vocab_size);
  const intermediate = num(config.intermediate_size);
  if (!heads || !hidden || !layers || !vocab || !intermediate) return 'config.json lacks a size the fused graph needs';
  const headDim = num(config.head_dim) ?? hidden / heads;
  if (headDim * heads !== hidden) return 'head_dim * num_attention_heads differs from hidden_size';
  return {
    vocab,
    hidden,
    layers,
    heads,
    kvHeads: num(config.num_key_value_heads) ?? heads,
    headDim,
    intermediate,
    maxPositions: num(config.max_position_embeddings) ?? 2048,
    rmsNormEps: num(config.rms_norm_eps) ?? 1e-6,
    ropeTheta: num(config.rope_theta) ?? 10000,
  };
}

function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  return out;
}

class WeightReader {
  private readonly byName = new Map<string, TensorProto>();
  private readonly consumers = new Map<string, NodeProto[]>();

  constructor(graph: GraphProto) {
    for (const t of graph.initializer) if (t.name !== undefined) this.byName.set(t.name, t);
    for (const n of graph.node) for (const i of n.input) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
  }

  private values(name: string, count: number): Float32Array {
    const t = this.byName.get(name);
    if (!t) throw new Error(`no initializer ${name}`);
    if (t.dataType !== DataType.FLOAT) throw new Error(`${name} is not FP32`);
    const v = float32Values(t);
    if (!v || v.length !== count) throw new Error(`${name} has ${v?.length ?? 'unreadable'} values, expected ${count}`);
    return v;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  vector(name: string, length: number): Float32Array {
    return this.values(name, length);
  }

  /** [in, out] for MatMul, whichever of `${base}.weight_t` ([in, out]) or `${base}.weight` exists. */
  linear(base: string, fin: number, fout: number): Float32Array {
    if (this.byName.has(`${base}.weight_t`)) return this.values(`${base}.weight_t`, fin * fout);
    const name = `${base}.weight`;
    const values = this.values(name, fin * fout);
    const uses = this.consumers.get(name) ?? [];
    const use = uses[0];
    if (!use || uses.length > 1) throw new Error(`${name} is not read by exactly one node`);
    if (use.opType === 'Transpose') return transposed(values, fout, fin); // stored [out, in]
    if (use.opType === 'MatMul' && use.input[1] === name) return values; // stored [in, out]
    if (use.opType === 'Gemm' && use.input[1] === name) {
      const transB = use.attribute.find((a) => a.name === 'transB')?.i === 1n;
      return transB ? transposed(values, fout, fin) : values;
    }
    throw new Error(`${name} is read by ${use.opType}, not a MatMul weight`);
  }
}

/** Every weight the fused graph needs, or why they cannot be read from this graph. */
export function llamaWeightsOf(model: ModelProto, shape: LlamaShape): LlamaWeights | string {
  const r = new WeightReader(model.graph);
  const { hidden: H, heads, kvHeads, headDim: D, intermediate: I, vocab: V } = shape;
  try {
    const layers: LlamaLayerWeights[] = [];
    for (let i = 0; i < shape.layers; i++) {
      const p = `model.layers.${i}`;
      layers.push({
        inputNorm: r.vector(`${p}.input_layernorm.weight`, H),
        q: r.linear(`${p}.self_attn.q_proj`, H, heads * D),
        k: r.linear(`${p}.self_attn.k_proj`, H, kvHeads * D),
        v: r.linear(`${p}.self_attn.v_proj`, H, kvHeads * D),
        o: r.linear(`${p}.self_attn.o_proj`, heads * D, H),
        postNorm: r.vector(`${p}.post_attention_layernorm.weight`, H),
        gate: r.linear(`${p}.mlp.gate_proj`, H, I),
        up: r.linear(`${p}.mlp.up_proj`, H, I),
        down: r.linear(`${p}.mlp.down_proj`, I, H),
      });
    }
    const hasHead = r.has('lm_head.weight') || r.has('lm_head.weight_t');
    return {
      embed: r.vector('model.embed_tokens.weight', V * H),
      layers,
      finalNorm: r.vector('model.norm.weight', H),
      ...(hasHead ? { lmHead: r.linear('lm_head', H, V) } : {}),
    };
  } catch (err) {
    return (err as Error).message;
  }
}
