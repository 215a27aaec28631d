// A Llama-family decoder in onnxruntime's fused form: SimplifiedLayerNormalization /
// SkipSimplifiedLayerNormalization, one packed QKV MatMul, RotaryEmbedding and FusedMatMul
// (com.microsoft), with attention that reads a KV cache the caller owns, in place.
//
// The cache: past_key_values.{i}.key/value [B, kv_heads, capacity, head_dim], row b's first P_b
// positions in use. The graph never copies it: scores against the past are one MatMul over the
// buffer (K read transposed), scores against this run's S tokens another; one softmax spans both
// (a concat of scores only), and the two weighted sums are added. It returns only the new
// positions' keys and values, new.{i}.key/value [tokens, 1, kv_heads * head_dim], for the caller
// to write into its buffers: a step hands back O(new tokens), not O(context). Grouped-query heads
// share their KV head by folding the group into the query rows, so K and V are never repeated.
//
// A run feeds two token groups, each with its own rows, width and past: the plain names, and the
// same names prefixed `b.`. Embedding, norms, projections and MLP run on both groups' tokens at
// once; attention runs per group. So a step's decode rows ([Ba, 1]) and a prompt chunk ([Bb, Sb])
// share one pass over the weights instead of one each. A run with one group feeds `b.` 0 rows,
// and each layer's attention is an If that then skips the second group's nodes.
//
// Inputs per group: input_ids [B, S], position_ids [B, S], attention_mask [B, capacity + S] (1 on
// each row's P_b used cache positions, then 1 on its real new tokens; rows are right-padded),
// past_key_values.*. The `b.` group's mask may be narrower, [B, C + S] with C <= capacity: its
// attention then reads only the first C positions of its past (a slice, copied), so a prompt
// chunk's many queries are not scored against the buffer's unused positions. logits_rows [R]:
// which positions get logits, numbered over the group's flattened [B * S] positions, the plain
// group's first. Outputs: logits [R, vocab], new.{i}.key/value
// with the tokens in the same order.
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
  const zero = g.tensor('zero', DataType.FLOAT, [], new Uint8Array(4));
  const floatMin = g.f32('float_min', Float32Array.of(FLOAT_MIN), []);
  const asBias = (valid: string) => g.op('Where', [valid, zero, floatMin]);
  const concat = (parts: string[]) => g.op('Concat', parts, { axis: 0 });

  /**
   * A token group's lengths, masks and shapes, built once for every layer. Reshapes name every
   * dim (no -1, no 0-copy), so an empty group (0 rows) runs through as empty tensors.
   */
  const groupOf = (prefix: string, spanFromMask: boolean) => {
    const ids = `${prefix}input_ids`;
    const dims = g.op('Shape', [ids]); // [B, S]
    const B = g.op('Gather', [dims, g.i64([0])], { axis: 0 });
    const S = g.op('Gather', [dims, g.i64([1])], { axis: 0 });
    // The past positions attended: the whole cache buffer, or (spanFromMask) the first C of it,
    // C = the mask's width - S, so a chunk does not score its queries against unused positions.
    const C = spanFromMask
      ? g.op('Sub', [g.op('Gather', [g.op('Shape', [`${prefix}attention_mask`]), g.i64([1])], { axis: 0 }), S])
      : g.op('Gather', [g.op('Shape', [`${prefix}past_key_values.0.key`]), g.i64([2])], { axis: 0 });
    const mask = g.op('Cast', [`${prefix}attention_mask`], { to: DataType.BOOL });
    // Past bias [B, 1, 1, C]: the cache positions each row uses.
    const pastValid = g.op('Slice', [mask, g.i64([0]), C, g.i64([1])]);
    const pastBias = asBias(g.op('Unsqueeze', [pastValid, g.i64([1, 2])]));
    // New-token bias [B, 1, group * S, S]: causal within the run, and the run's padding.
    const newValid = g.op('Unsqueeze', [g.op('Slice', [mask, C, g.op('Add', [C, S]), g.i64([1])]), g.i64([1, 2])]);
    const S0 = g.op('Squeeze', [S, g.i64([0])]);
    const keyPos = g.op('Unsqueeze', [g.op('Range', [g.i64(0), S0, g.i64(1)]), g.i64([0])]);
    const queryPos = g.op('Unsqueeze', [g.op('Range', [g.i64(0), S0, g.i64(1)]), g.i64([1])]);
    const causal = g.op('Tile', [g.op('LessOrEqual', [keyPos, queryPos]), g.i64([group, 1])]);
    const newBias = asBias(g.op('And', [newValid, g.op('Unsqueeze', [causal, g.i64([0, 1])])]));
    const tokens = g.op('Mul', [B, S]);
    return {
      prefix,
      spanFromMask,
      C,
      tokens,
      pastBias,
      newBias,
      splitSizes: concat([C, S]),
      /** [B, S, kv, group, D], [B, kv, group * S, D], [B, kv, group, S, D], [B, S, kv, D], [B * S, 1, heads * D]. */
      perHead: concat([dims, g.i64([kvHeads, group, D])]),
      folded: concat([B, g.i64([kvHeads]), g.op('Mul', [S, g.i64([group])]), g.i64([D])]),
      unfolded: concat([B, g.i64([kvHeads, group]), S, g.i64([D])]),
      kvPerHead: concat([dims, g.i64([kvHeads, D])]),
      flat: concat([tokens, g.i64([1, heads * D])]),
      flatIds: g.op('Reshape', [ids, g.i64([-1, 1])]),
      flatPositions: g.op('Reshape', [`${prefix}position_ids`, g.i64([-1, 1])]),
    };
  };
  type Group = ReturnType<typeof groupOf>;
  // Two token groups share every projection and MLP (their tokens concatenated, [Ta + Tb, 1, *]:
  // one position per "row", so RotaryEmbedding's sequence length never exceeds its cache),
  // each attending over its own rows' cache: decode rows [Ba, 1] and a prompt chunk [Bb, Sb] run
  // in one step, reading the weights once. Group b is empty (0 rows) when a run has one group.
  const groups = [groupOf('', false), groupOf('b.', true)] as const;
  const tokenSplit = concat(groups.map((x) => x.tokens));

  /** Reshape to computed dims, a 0 among them meaning 0 (an empty group), not "copy the input's". */
  const reshape = (g: GraphAssembler, x: string, dims: string) => g.op('Reshape', [x, dims], { allowzero: 1 });
  /** One group's attention: q [T, 1, heads * D], k and v [T, 1, kv * D] (its tokens) -> [T, 1, heads * D]. */
  const attend = (g: GraphAssembler, x: Group, q: string, k: string, v: string, pastK: string, pastV: string) => {
    // Queries -> [B, kv, group * S, D]: each KV head's group folded into its rows, so K and V are never repeated.
    const queries = reshape(g, g.op('Transpose', [reshape(g, q, x.perHead)], { perm: [0, 2, 3, 1, 4] }), x.folded);
    // Keys and values -> [B, kv, S, D].
    const newK = g.op('Transpose', [reshape(g, k, x.kvPerHead)], { perm: [0, 2, 1, 3] });
    const newV = g.op('Transpose', [reshape(g, v, x.kvPerHead)], { perm: [0, 2, 1, 3] });
    const scoresPast = g.op('Add', [g.op('FusedMatMul', [queries, pastK], { transB: 1, alpha: scale }, MS), x.pastBias]);
    const scoresNew = g.op('Add', [g.op('FusedMatMul', [queries, newK], { transB: 1, alpha: scale }, MS), x.newBias]);
    const probs = g.op('Softmax', [g.op('Concat', [scoresPast, scoresNew], { axis: -1 })], { axis: -1 });
    const [pPast, pNew] = g.opN('Split', [probs, x.splitSizes], 2, { axis: -1 }) as [string, string];
    const context = g.op('Add', [g.op('MatMul', [pPast, pastV]), g.op('MatMul', [pNew, newV])]);
    // [B, kv, group * S, D] -> [B * S, 1, heads * D], head h = kv * group + g.
    return reshape(g, g.op('Transpose', [reshape(g, context, x.unfolded)], { perm: [0, 3, 1, 2, 4] }), x.flat);
  };
  const byGroup = (g: GraphAssembler, x: string) => g.opN('Split', [x, tokenSplit], 2, { axis: 0 }) as [string, string];
  const positions = g.op('Concat', groups.map((x) => x.flatPositions), { axis: 0 });
  const hasSecondGroup = g.op('Greater', [groups[1].tokens, g.i64([0])]);

  let residual = g.op('Gather', [embed, g.op('Concat', groups.map((x) => x.flatIds), { axis: 0 })], { axis: 0 });
  let normed = g.op('SimplifiedLayerNormalization', [residual, g.f32('model.layers.0.input_layernorm.weight', weights.layers[0]!.inputNorm, [H])], { axis: -1, epsilon: eps, stash_type: 1 });

  weights.layers.forEach((layer, i) => {
    const p = `model.layers.${i}`;
    const qkv = g.op('MatMul', [normed, g.f32(`${p}.self_attn.qkv_proj.weight_t`, packColumns([layer.q, layer.k, layer.v], H), [H, (heads + 2 * kvHeads) * D])]);
    const [q, k] = [`${p}.q`, `${p}.k`];
    g.opTo('Split', [qkv, g.i64([heads * D, kvHeads * D, kvHeads * D])], [q, k, `new.${i}.value`], { axis: -1 });
    const rotaryQ = g.op('RotaryEmbedding', [q, positions, cosCache, sinCache], { interleaved: 0 }, MS);
    g.opTo('RotaryEmbedding', [k, positions, cosCache, sinCache], [`new.${i}.key`], { interleaved: 0 }, MS);
    const past = (x: Group, kind: string) => `${x.prefix}past_key_values.${i}.${kind}`;
    /** A group's past as its attention reads it: the buffer, or its first C positions (a copy of those only). */
    const pastOf = (b: GraphAssembler, x: Group, kind: string) => (x.spanFromMask ? b.op('Slice', [past(x, kind), g.i64([0]), x.C, g.i64([2])]) : past(x, kind));
    // Both groups when `b.` has tokens; else the plain group alone, without the second group's
    // nodes (an empty group still costs each node's dispatch: 15% of a batch-1 decode step).
    const both = g.branch('both_groups', ['tokens', 1, heads * D], (b) => {
      const [qs, ks, vs] = [byGroup(b, rotaryQ), byGroup(b, `new.${i}.key`), byGroup(b, `new.${i}.value`)];
      return [b.op('Concat', groups.map((x, n) => attend(b, x, qs[n] as string, ks[n] as string, vs[n] as string, pastOf(b, x, 'key'), pastOf(b, x, 'value'))), { axis: 0 })];
    });
    const plain = g.branch('plain_group', ['tokens', 1, heads * D], (b) => [attend(b, groups[0], rotaryQ, `new.${i}.key`, `new.${i}.value`, past(groups[0], 'key'), past(groups[0], 'value'))]);
    const attention = g.op('If', [hasSecondGroup], { then_branch: { graph: both }, else_branch: { graph: plain } });
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

  const inputs = groups.flatMap(({ prefix }) => [
    valueInfo(`${prefix}input_ids`, DataType.INT64, [`${prefix}batch_size`, `${prefix}sequence_length`]),
    valueInfo(`${prefix}position_ids`, DataType.INT64, [`${prefix}batch_size`, `${prefix}sequence_length`]),
    valueInfo(`${prefix}attention_mask`, DataType.INT64, [`${prefix}batch_size`, `${prefix}total_sequence_length`]),
  ]);
  inputs.push(valueInfo('logits_rows', DataType.INT64, ['logit_rows']));
  const outputs = [valueInfo('logits', DataType.FLOAT, ['logit_rows', V])];
  for (let i = 0; i < shape.layers; i++) {
    for (const kind of ['key', 'value']) {
      for (const { prefix } of groups) inputs.push(valueInfo(`${prefix}past_key_values.${i}.${kind}`, DataType.FLOAT, [`${prefix}batch_size`, kvHeads, `${prefix}past_sequence_length`, D]));
      outputs.push(valueInfo(`new.${i}.${kind}`, DataType.FLOAT, ['tokens', 1, kvHeads * D]));
    }
  }
  return modelOf(g.graph('llama_fused', inputs, outputs), 17, 'ovserve-fuse');
}
