// A Llama-family decoder in onnxruntime's fused form: SimplifiedLayerNormalization /
// SkipSimplifiedLayerNormalization, one packed QKV MatMul, RotaryEmbedding and
// GroupQueryAttention (com.microsoft), and per-row lengths from attention_mask (right padding),
// so rows of any length decode together in one run.
//
// The KV cache belongs to the caller: past_key_values.{i}.key/value [B, kv_heads, capacity,
// head_dim] are read (row b's first L_b - S positions), and the graph returns only the new
// positions' keys and values, new.{i}.key/value [B, S, kv_heads * head_dim], for the caller to
// write into its buffers. A step therefore hands back O(new tokens), not O(context).
//
// Inputs: input_ids [B, S], position_ids [B, S], attention_mask [B, T] (1 on each row's first L_b
// positions, L_b counting this run's tokens), past_key_values.*. Outputs: logits [B, S, vocab],
// new.{i}.key/value.
import { DataType, type ModelProto } from './model-proto.ts';
import { GraphAssembler, modelOf, valueInfo } from './graph-assembler.ts';

export interface LlamaShape {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
}

/** Linear weights are [in, out] (MatMul's B); norms are [hidden]. */
export interface LlamaLayerWeights {
  inputNorm: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  postNorm: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
}

export interface LlamaWeights {
  /** [vocab, hidden]. */
  embed: Float32Array;
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array;
  /** [hidden, vocab]; absent when the head is tied to the embedding. */
  lmHead?: Float32Array;
}

const MS = 'com.microsoft';

/** Concatenates [in, a] [in, b] [in, c] along columns into [in, a + b + c]. */
export function packColumns(parts: Float32Array[], rows: number): Float32Array {
  const widths = parts.map((p) => p.length / rows);
  const total = widths.reduce((n, w) => n + w, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = r * total;
    parts.forEach((p, i) => {
      const w = widths[i] as number;
      out.set(p.subarray(r * w, (r + 1) * w), at);
      at += w;
    });
  }
  return out;
}

/** cos and sin of position * inv_freq, [maxPositions, headDim / 2] each (non-interleaved rotary). */
export function rotaryCaches(shape: LlamaShape): { cos: Float32Array; sin: Float32Array } {
  const half = shape.headDim / 2;
  const cos = new Float32Array(shape.maxPositions * half);
  const sin = new Float32Array(shape.maxPositions * half);
  for (let i = 0; i < half; i++) {
    // The same float32 inverse frequency the exported graphs multiply by.
    const invFreq = Math.fround(1 / shape.ropeTheta ** ((2 * i) / shape.headDim));
    for (let p = 0; p < shape.maxPositions; p++) {
      const angle = Math.fround(p * invFreq);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export function fusedLlamaModel(shape: LlamaShape, weights: LlamaWeights): ModelProto {
  const { hidden: H, heads, kvHeads, headDim: D, vocab: V } = shape;
  const g = new GraphAssembler();
  const eps = { float: shape.rmsNormEps };

  const embed = g.f32('model.embed_tokens.weight', weights.embed, [V, H]);
  const { cos, sin } = rotaryCaches(shape);
  const cosCache = g.f32('cos_cache', cos, [shape.maxPositions, D / 2]);
  const sinCache = g.f32('sin_cache', sin, [shape.maxPositions, D / 2]);

  // Per-row lengths from the mask: seqlens_k = L_b - 1, total_sequence_length = T.
  const seqlensK = g.op('Cast', [g.op('Sub', [g.op('ReduceSum', ['attention_mask', g.i64([1])], { keepdims: 0 }), g.i64(1)])], { to: DataType.INT32 });
  const totalLength = g.op('Cast', [g.op('Gather', [g.op('Shape', ['attention_mask']), g.i64(1)], { axis: 0 })], { to: DataType.INT32 });

  let residual = g.op('Gather', [embed, 'input_ids'], { axis: 0 });
  let normed = g.op('SimplifiedLayerNormalization', [residual, g.f32('model.layers.0.input_layernorm.weight', weights.layers[0]!.inputNorm, [H])], { axis: -1, epsilon: eps, stash_type: 1 });

  weights.layers.forEach((layer, i) => {
    const p = `model.layers.${i}`;
    const qkv = g.op('MatMul', [normed, g.f32(`${p}.self_attn.qkv_proj.weight_t`, packColumns([layer.q, layer.k, layer.v], H), [H, (heads + 2 * kvHeads) * D])]);
    const [q, k, v] = g.opN('Split', [qkv, g.i64([heads * D, kvHeads * D, kvHeads * D])], 3, { axis: -1 }) as [string, string, string];
    const rotaryQ = g.op('RotaryEmbedding', [q, 'position_ids', cosCache, sinCache], { interleaved: 0 }, MS);
    g.opTo('RotaryEmbedding', [k, 'position_ids', cosCache, sinCache], [`new.${i}.key`], { interleaved: 0 }, MS);
    g.opTo('Identity', [v], [`new.${i}.value`]);
    const [attention] = g.opN(
      'GroupQueryAttention',
      [rotaryQ, `new.${i}.key`, `new.${i}.value`, `past_key_values.${i}.key`, `past_key_values.${i}.value`, seqlensK, totalLength],
      3,
      { num_heads: heads, kv_num_heads: kvHeads, local_window_size: -1 },
      MS,
    ) as [string];
    const projected = g.op('MatMul', [attention, g.f32(`${p}.self_attn.o_proj.weight_t`, layer.o, [heads * D, H])]);
    const [postNormed, , , afterAttention] = g.opN('SkipSimplifiedLayerNormalization', [residual, projected, g.f32(`${p}.post_attention_layernorm.weight`, layer.postNorm, [H])], 4, { epsilon: eps }, MS) as [string, string, string, string];
    const gate = g.op('MatMul', [postNormed, g.f32(`${p}.mlp.gate_proj.weight_t`, layer.gate, [H, shape.intermediate])]);
    const up = g.op('MatMul', [postNormed, g.f32(`${p}.mlp.up_proj.weight_t`, layer.up, [H, shape.intermediate])]);
    const activated = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    const down = g.op('MatMul', [activated, g.f32(`${p}.mlp.down_proj.weight_t`, layer.down, [shape.intermediate, H])]);
    const nextNorm = i + 1 < weights.layers.length ? weights.layers[i + 1]!.inputNorm : weights.finalNorm;
    const nextName = i + 1 < weights.layers.length ? `model.layers.${i + 1}.input_layernorm.weight` : 'model.norm.weight';
    const [nextNormed, , , afterMlp] = g.opN('SkipSimplifiedLayerNormalization', [afterAttention, down, g.f32(nextName, nextNorm, [H])], 4, { epsilon: eps }, MS) as [string, string, string, string];
    normed = nextNormed;
    residual = afterMlp;
  });

  // Tied heads read the embedding through a Transpose (what the int8 rewrite recognises).
  const head = weights.lmHead ? g.f32('lm_head.weight_t', weights.lmHead, [H, V]) : g.op('Transpose', [embed], { perm: [1, 0] });
  g.opTo('MatMul', [normed, head], ['logits']);

  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo('position_ids', DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']),
  ];
  const outputs = [valueInfo('logits', DataType.FLOAT, ['batch_size', 'sequence_length', V])];
  for (let i = 0; i < shape.layers; i++) {
    for (const kind of ['key', 'value']) {
      inputs.push(valueInfo(`past_key_values.${i}.${kind}`, DataType.FLOAT, ['batch_size', kvHeads, 'past_sequence_length', D]));
      outputs.push(valueInfo(`new.${i}.${kind}`, DataType.FLOAT, ['batch_size', 'sequence_length', kvHeads * D]));
    }
  }
  return modelOf(g.graph('llama_fused', inputs, outputs), 17, 'ovserve-fuse');
}
