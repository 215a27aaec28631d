// Llama-style decoder (RMSNorm, RoPE, GQA, SiLU MLP, tied embeddings) with the Optimum KV-cache
// I/O: input_ids, attention_mask, position_ids, past_key_values.{i}.key/value -> logits,
// present.{i}.key/value. Seeded random weights.
import { DataType, type GraphDef, type ValueInfoDef } from './onnx.ts';
import { FLOAT_MIN, GraphBuilder } from './graph.ts';
import { createRng } from './random.ts';

export interface LlamaDims {
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediateSize: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
}

export function buildLlama(dims: LlamaDims, seed: number): GraphDef {
  const rng = createRng(seed);
  const { vocabSize: V, hiddenSize: H, heads, kvHeads, intermediateSize: I } = dims;
  const D = H / heads;
  const group = heads / kvHeads;
  const g = new GraphBuilder();
  const emb = g.weight('model.embed_tokens.weight', rng.normal(V * H, 0.125), [V, H]);

  // Lengths: S new tokens after P cached ones; T = P + S keys.
  const S = g.op('Gather', [g.op('Shape', ['input_ids']), g.i64(1)], { axis: 0 });
  const P = g.op('Gather', [g.op('Shape', ['past_key_values.0.key']), g.i64(2)], { axis: 0 });
  const T = g.op('Add', [P, S]);

  // Additive mask [B, 1, S, T]: causal by absolute cache index, and the padding mask.
  const keyPos = g.op('Unsqueeze', [g.op('Range', [g.i64(0), T, g.i64(1)]), g.i64([0])]);
  const queryPos = g.op('Unsqueeze', [g.op('Range', [P, T, g.i64(1)]), g.i64([1])]);
  const causal = g.op('Unsqueeze', [g.op('LessOrEqual', [keyPos, queryPos]), g.i64([0, 1])]);
  const padding = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: DataType.BOOL }), g.i64([1, 2])]);
  const bias = g.op('Where', [g.op('And', [causal, padding]), g.f32(0), g.f32(FLOAT_MIN)]);

  // Rotary tables [B, 1, S, D] from position_ids (non-interleaved rotate_half).
  const invFreq = Float32Array.from({ length: D / 2 }, (_, i) => 1 / dims.ropeTheta ** ((2 * i) / D));
  const freqs = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: DataType.FLOAT }), g.i64([2])]), g.weight('rotary_inv_freq', invFreq, [D / 2])]);
  const angles = g.op('Concat', [freqs, freqs], { axis: -1 });
  const cos = g.op('Unsqueeze', [g.op('Cos', [angles]), g.i64([1])]);
  const sin = g.op('Unsqueeze', [g.op('Sin', [angles]), g.i64([1])]);

  const rmsNorm = (x: string, name: string) => {
    const w = g.weight(name, rng.normal(H, 0.05).map((v) => 1 + v), [H]);
    const variance = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    return g.op('Mul', [g.op('Div', [x, g.op('Sqrt', [g.op('Add', [variance, g.f32(dims.rmsNormEps)])])]), w]);
  };
  const rope = (x: string) => {
    const [x1, x2] = g.opN('Split', [x], 2, { axis: -1 }) as [string, string];
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };
  const splitHeads = (x: string, n: number) => g.op('Transpose', [g.op('Reshape', [x, g.i64([0, 0, n, D])])], { perm: [0, 2, 1, 3] });
  const repeatKv = (x: string) => {
    if (group === 1) return x;
    const u = g.op('Unsqueeze', [x, g.i64([2])]);
    return g.op('Reshape', [g.op('Concat', Array(group).fill(u), { axis: 2 }), g.i64([0, heads, -1, D])]);
  };
  const linear = (name: string, fin: number, fout: number, std: number) => g.weight(name, rng.normal(fin * fout, std), [fin, fout]);

  let x = g.op('Gather', [emb, 'input_ids'], { axis: 0 });
  const scale = g.f32(1 / Math.sqrt(D));
  for (let i = 0; i < dims.layers; i++) {
    const p = `model.layers.${i}`;
    const h = rmsNorm(x, `${p}.input_layernorm.weight`);
    const wq = linear(`${p}.self_attn.q_proj.weight_t`, H, heads * D, 1 / Math.sqrt(H));
    const wk = linear(`${p}.self_attn.k_proj.weight_t`, H, kvHeads * D, 1 / Math.sqrt(H));
    const wv = linear(`${p}.self_attn.v_proj.weight_t`, H, kvHeads * D, 1 / Math.sqrt(H));
    const wo = linear(`${p}.self_attn.o_proj.weight_t`, heads * D, H, 0.5 / Math.sqrt(heads * D));
    const q = rope(splitHeads(g.op('MatMul', [h, wq]), heads));
    const k = rope(splitHeads(g.op('MatMul', [h, wk]), kvHeads));
    const v = splitHeads(g.op('MatMul', [h, wv]), kvHeads);
    const keys = g.opTo('Concat', [`past_key_values.${i}.key`, k], [`present.${i}.key`], { axis: 2 });
    const values = g.opTo('Concat', [`past_key_values.${i}.value`, v], [`present.${i}.value`], { axis: 2 });
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [repeatKv(keys)], { perm: [0, 1, 3, 2] })]), scale]), bias]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), repeatKv(values)]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.i64([0, 0, heads * D])]);
    x = g.op('Add', [x, g.op('MatMul', [merged, wo])]);
    const h2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    const gate = g.op('MatMul', [h2, linear(`${p}.mlp.gate_proj.weight_t`, H, I, 1 / Math.sqrt(H))]);
    const up = g.op('MatMul', [h2, linear(`${p}.mlp.up_proj.weight_t`, H, I, 1 / Math.sqrt(H))]);
    const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
    x = g.op('Add', [x, g.op('MatMul', [g.op('Mul', [silu, up]), linear(`${p}.mlp.down_proj.weight_t`, I, H, 0.5 / Math.sqrt(I))])]);
  }
  const final = rmsNorm(x, 'model.norm.weight');
  g.opTo('MatMul', [final, g.op('Transpose', [emb], { perm: [1, 0] })], ['logits']); // tied lm_head

  const ids = (name: string, len: string): ValueInfoDef => ({ name, dataType: DataType.INT64, shape: ['batch_size', len] });
  const inputs: ValueInfoDef[] = [ids('input_ids', 'sequence_length'), ids('attention_mask', 'total_sequence_length'), ids('position_ids', 'sequence_length')];
  const outputs: ValueInfoDef[] = [{ name: 'logits', dataType: DataType.FLOAT, shape: ['batch_size', 'sequence_length', V] }];
  for (let i = 0; i < dims.layers; i++) {
    for (const kind of ['key', 'value']) {
      inputs.push({ name: `past_key_values.${i}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', kvHeads, 'past_sequence_length', D] });
      outputs.push({ name: `present.${i}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', kvHeads, 'total_sequence_length', D] });
    }
  }
  return g.graph('llama_decoder', inputs, outputs);
}
