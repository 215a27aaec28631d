// A Llama-family decoder in onnxruntime's fused form: SimplifiedLayerNormalization /
// SkipSimplifiedLayerNormalization, one packed QKV MatMul, RotaryEmbedding and FusedMatMul
// (com.microsoft), with attention that reads a KV cache the caller owns, in place.
//
// The cache: past_key_values.{i}.key/value [B, kv_heads, capacity, head_dim], row b's first P_b
// positions in use. The graph never copies it: scores against the past are one MatMul over the
// buffer (K read transposed), scores against this run's S tokens another; one softmax spans both
// (a concat of scores only), and the two weighted sums are added. It returns only the new
// positions' keys and values, new.{i}.key/value [B, S, kv_heads * head_dim], for the caller to
// write into its buffers: a step hands back O(new tokens), not O(context). Grouped-query heads
// share their KV head by folding the group into the query rows, so K and V are never repeated.
//
// Inputs: input_ids [B, S], position_ids [B, S], attention_mask [B, capacity + S] (1 on each row's
// P_b used cache positions, then 1 on its real new tokens; rows are right-padded), logits_rows [R]
// (which of the B * S positions get logits), past_key_values.*. Outputs: logits [R, vocab],
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
/** float32's lowest finite value, the additive mask transformers uses: padded softmax stays exact. */
const FLOAT_MIN = -3.4028234663852886e38;

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

  const group = heads / kvHeads;
  const scale = { float: 1 / Math.sqrt(D) };
  // Lengths: S new tokens; C cache positions (the buffers' capacity, read from the first layer's).
  const S = g.op('Gather', [g.op('Shape', ['input_ids']), g.i64(1)], { axis: 0 });
  const C = g.op('Gather', [g.op('Shape', ['past_key_values.0.key']), g.i64(2)], { axis: 0 });
  const asBias = (valid: string) => g.op('Where', [valid, g.tensor(`zero_${valid}`, DataType.FLOAT, [], new Uint8Array(4)), g.f32(`float_min_${valid}`, Float32Array.of(FLOAT_MIN), [])]);
  const mask = g.op('Cast', ['attention_mask'], { to: DataType.BOOL });
  const oneDim = (x: string) => g.op('Unsqueeze', [x, g.i64([0])]);
  // Past bias [B, 1, 1, C]: the cache positions each row uses.
  const pastValid = g.op('Slice', [mask, oneDim(g.i64(0)), oneDim(C), g.i64([1])]);
  const pastBias = asBias(g.op('Unsqueeze', [pastValid, g.i64([1, 2])]));
  // New-token bias [B, 1, group * S, S]: causal within the run, and the run's padding.
  const newValid = g.op('Unsqueeze', [g.op('Slice', [mask, oneDim(C), oneDim(g.op('Add', [C, S])), g.i64([1])]), g.i64([1, 2])]);
  const keyPos = g.op('Unsqueeze', [g.op('Range', [g.i64(0), S, g.i64(1)]), g.i64([0])]);
  const queryPos = g.op('Unsqueeze', [g.op('Range', [g.i64(0), S, g.i64(1)]), g.i64([1])]);
  const causal = g.op('Tile', [g.op('LessOrEqual', [keyPos, queryPos]), g.i64([group, 1])]);
  const newBias = asBias(g.op('And', [newValid, g.op('Unsqueeze', [causal, g.i64([0, 1])])]));
  const splitSizes = g.op('Concat', [oneDim(C), oneDim(S)], { axis: 0 });
  // Queries [B, S, heads * D] -> [B, kv, group * S, D]: each KV head's group folded into its rows.
  const queryGroups = (x: string) => {
    const perHead = g.op('Reshape', [x, g.i64([0, 0, kvHeads, group, D])]);
    return g.op('Reshape', [g.op('Transpose', [perHead], { perm: [0, 2, 3, 1, 4] }), g.i64([0, kvHeads, -1, D])]);
  };
  // Keys and values [B, S, kv * D] -> [B, kv, S, D].
  const kvHeadsOf = (x: string) => g.op('Transpose', [g.op('Reshape', [x, g.i64([0, 0, kvHeads, D])])], { perm: [0, 2, 1, 3] });
  const attend = (q: string, k: string, v: string, pastK: string, pastV: string) => {
    const queries = queryGroups(q);
    const newK = kvHeadsOf(k);
    const newV = kvHeadsOf(v);
    const scoresPast = g.op('Add', [g.op('FusedMatMul', [queries, pastK], { transB: 1, alpha: scale }, MS), pastBias]);
    const scoresNew = g.op('Add', [g.op('FusedMatMul', [queries, newK], { transB: 1, alpha: scale }, MS), newBias]);
    const probs = g.op('Softmax', [g.op('Concat', [scoresPast, scoresNew], { axis: -1 })], { axis: -1 });
    const [pPast, pNew] = g.opN('Split', [probs, splitSizes], 2, { axis: -1 }) as [string, string];
    const context = g.op('Add', [g.op('MatMul', [pPast, pastV]), g.op('MatMul', [pNew, newV])]);
    // [B, kv, group * S, D] -> [B, S, heads * D], head h = kv * group + g.
    const perHead = g.op('Reshape', [context, g.i64([0, kvHeads, group, -1, D])]);
    return g.op('Reshape', [g.op('Transpose', [perHead], { perm: [0, 3, 1, 2, 4] }), g.i64([0, 0, heads * D])]);
  };

  let residual = g.op('Gather', [embed, 'input_ids'], { axis: 0 });
  let normed = g.op('SimplifiedLayerNormalization', [residual, g.f32('model.layers.0.input_layernorm.weight', weights.layers[0]!.inputNorm, [H])], { axis: -1, epsilon: eps, stash_type: 1 });

  weights.layers.forEach((layer, i) => {
    const p = `model.layers.${i}`;
    const qkv = g.op('MatMul', [normed, g.f32(`${p}.self_attn.qkv_proj.weight_t`, packColumns([layer.q, layer.k, layer.v], H), [H, (heads + 2 * kvHeads) * D])]);
    const [q, k] = [`${p}.q`, `${p}.k`];
    g.opTo('Split', [qkv, g.i64([heads * D, kvHeads * D, kvHeads * D])], [q, k, `new.${i}.value`], { axis: -1 });
    const rotaryQ = g.op('RotaryEmbedding', [q, 'position_ids', cosCache, sinCache], { interleaved: 0 }, MS);
    g.opTo('RotaryEmbedding', [k, 'position_ids', cosCache, sinCache], [`new.${i}.key`], { interleaved: 0 }, MS);
    const attention = attend(rotaryQ, `new.${i}.key`, `new.${i}.value`, `past_key_values.${i}.key`, `past_key_values.${i}.value`);
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

  // Logits only for the positions asked for (logits_rows index the flattened [B * S] positions):
  // a prefill needs each row's last one unless prompt logprobs are wanted; the head is a fifth of
  // this model's work per position. Tied heads read the embedding through a Transpose (what the
  // int8 rewrite recognises).
  const head = weights.lmHead ? g.f32('lm_head.weight_t', weights.lmHead, [H, V]) : g.op('Transpose', [embed], { perm: [1, 0] });
  const wanted = g.op('Gather', [g.op('Reshape', [normed, g.i64([-1, H])]), 'logits_rows'], { axis: 0 });
  g.opTo('MatMul', [wanted, head], ['logits']);

  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo('position_ids', DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']),
    valueInfo('logits_rows', DataType.INT64, ['logit_rows']),
  ];
  const outputs = [valueInfo('logits', DataType.FLOAT, ['logit_rows', V])];
  for (let i = 0; i < shape.layers; i++) {
    for (const kind of ['key', 'value']) {
      inputs.push(valueInfo(`past_key_values.${i}.${kind}`, DataType.FLOAT, ['batch_size', kvHeads, 'past_sequence_length', D]));
      outputs.push(valueInfo(`new.${i}.${kind}`, DataType.FLOAT, ['batch_size', 'sequence_length', kvHeads * D]));
    }
  }
  return modelOf(g.graph('llama_fused', inputs, outputs), 17, 'ovserve-fuse');
}
