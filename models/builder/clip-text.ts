// CLIPTextModel graph (input_ids int32 -> last_hidden_state, pooler_output) as Optimum exports SD's
// text_encoder: learned positions, causal pre-LayerNorm blocks, quick_gelu MLP; seeded random weights.
import { DataType, type GraphDef } from './onnx.ts';
import { FLOAT_MIN, GraphBuilder } from './graph.ts';
import { createRng } from './random.ts';

export interface ClipTextDims {
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  /** The fixed context: input_ids are always [batch, maxPositions] (77 for SD). */
  maxPositions: number;
  layerNormEps: number;
}

export function buildClipText(dims: ClipTextDims, seed: number): GraphDef {
  const rng = createRng(seed);
  const { vocabSize: V, hiddenSize: H, heads, intermediateSize: I, maxPositions: S } = dims;
  const D = H / heads;
  const g = new GraphBuilder();

  const layerNorm = (x: string, prefix: string) => {
    const scale = g.weight(`${prefix}.weight`, rng.normal(H, 0.05).map((v) => 1 + v), [H]);
    const bias = g.weight(`${prefix}.bias`, rng.normal(H, 0.02), [H]);
    return g.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { float: dims.layerNormEps } });
  };
  const linear = (x: string, prefix: string, fin: number, fout: number, gain = 1) => {
    const w = g.weight(`${prefix}.weight_t`, rng.normal(fin * fout, gain / Math.sqrt(fin)), [fin, fout]);
    return g.op('Add', [g.op('MatMul', [x, w]), g.weight(`${prefix}.bias`, rng.normal(fout, 0.02), [fout])]);
  };
  const splitHeads = (t: string) => g.op('Transpose', [g.op('Reshape', [t, g.i64([0, 0, heads, D])])], { perm: [0, 2, 1, 3] });

  // Token embedding plus the learned position table (the context is the whole table).
  const tokens = g.weight('text_model.embeddings.token_embedding.weight', rng.normal(V * H, 0.5), [V, H]);
  const positions = g.weight('text_model.embeddings.position_embedding.weight', rng.normal(S * H, 0.2), [S, H]);
  let x = g.op('Add', [g.op('Gather', [tokens, 'input_ids'], { axis: 0 }), positions]);

  // Causal mask [S, S]: float32 min above the diagonal, as transformers' CLIP adds it.
  const mask = new Float32Array(S * S);
  for (let q = 0; q < S; q++) for (let k = q + 1; k < S; k++) mask[q * S + k] = FLOAT_MIN;
  const causal = g.weight('causal_attention_mask', mask, [S, S]);
  const scale = g.f32(1 / Math.sqrt(D));

  for (let i = 0; i < dims.layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    const h = layerNorm(x, `${p}.layer_norm1`);
    const q = splitHeads(linear(h, `${p}.self_attn.q_proj`, H, H));
    const k = splitHeads(linear(h, `${p}.self_attn.k_proj`, H, H));
    const v = splitHeads(linear(h, `${p}.self_attn.v_proj`, H, H));
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), scale]), causal]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.i64([0, 0, H])]);
    x = g.op('Add', [x, linear(merged, `${p}.self_attn.out_proj`, H, H, 0.5)]);
    const fc1 = linear(layerNorm(x, `${p}.layer_norm2`), `${p}.mlp.fc1`, H, I);
    const quickGelu = g.op('Mul', [fc1, g.op('Sigmoid', [g.op('Mul', [fc1, g.f32(1.702)])])]);
    x = g.op('Add', [x, linear(quickGelu, `${p}.mlp.fc2`, I, H, 0.5)]);
  }
  const last = g.opTo('Identity', [layerNorm(x, 'text_model.final_layer_norm')], ['last_hidden_state']);
  // Pooled: each row's hidden state at argmax(input_ids), its first EOS (EOS has the largest id).
  const eos = g.op('ArgMax', [g.op('Cast', ['input_ids'], { to: DataType.INT64 })], { axis: -1, keepdims: 1, select_last_index: 0 });
  g.opTo('GatherND', [last, eos], ['pooler_output'], { batch_dims: 1 });

  return g.graph(
    'clip_text_encoder',
    [{ name: 'input_ids', dataType: DataType.INT32, shape: ['batch_size', S] }],
    [
      { name: 'last_hidden_state', dataType: DataType.FLOAT, shape: ['batch_size', S, H] },
      { name: 'pooler_output', dataType: DataType.FLOAT, shape: ['batch_size', H] },
    ],
  );
}
