// BERT encoder (BertModel -> last_hidden_state) and cross-encoder (BertForSequenceClassification
// -> logits) graphs with the Optimum I/O names and seeded random weights.
import { DataType, type GraphDef, type ValueInfoDef } from './onnx.ts';
import { FLOAT_MIN, GraphBuilder } from './graph.ts';
import { createRng } from './random.ts';

export interface BertDims {
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  /** Number of classifier labels; 0 builds the bare encoder. */
  labels: number;
}

export function buildBert(dims: BertDims, seed: number): GraphDef {
  const rng = createRng(seed);
  const { hiddenSize: H, heads, intermediateSize: I } = dims;
  const D = H / heads;
  const g = new GraphBuilder();

  const layerNorm = (x: string, prefix: string) => {
    const w = rng.normal(H, 0.05).map((v) => 1 + v);
    const scale = g.weight(`${prefix}.weight`, w, [H]);
    const bias = g.weight(`${prefix}.bias`, rng.normal(H, 0.02), [H]);
    return g.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { float: dims.layerNormEps } });
  };
  const dense = (x: string, prefix: string, fin: number, fout: number, std: number) => {
    const w = g.weight(`${prefix}.weight_t`, rng.normal(fin * fout, std), [fin, fout]);
    const b = g.weight(`${prefix}.bias`, rng.normal(fout, 0.02), [fout]);
    return g.op('Add', [g.op('MatMul', [x, w]), b]);
  };
  const splitHeads = (t: string) => g.op('Transpose', [g.op('Reshape', [t, g.i64([0, 0, heads, D])])], { perm: [0, 2, 1, 3] });

  // Embeddings: word + token type + absolute position, then LayerNorm.
  const words = g.weight('embeddings.word_embeddings.weight', rng.normal(dims.vocabSize * H, 0.5), [dims.vocabSize, H]);
  const positions = g.weight('embeddings.position_embeddings.weight', rng.normal(dims.maxPositions * H, 0.2), [dims.maxPositions, H]);
  const types = g.weight('embeddings.token_type_embeddings.weight', rng.normal(dims.typeVocabSize * H, 0.5), [dims.typeVocabSize, H]);
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.i64(1)], { axis: 0 });
  const posIds = g.op('Range', [g.i64(0), seqLen, g.i64(1)]);
  let x = g.op('Add', [
    g.op('Add', [g.op('Gather', [words, 'input_ids'], { axis: 0 }), g.op('Gather', [types, 'token_type_ids'], { axis: 0 })]),
    g.op('Gather', [positions, posIds], { axis: 0 }),
  ]);
  x = layerNorm(x, 'embeddings.LayerNorm');

  // Extended attention mask: (1 - mask) * float32 min, shaped [B, 1, 1, S].
  const mask = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: DataType.FLOAT }), g.i64([1, 2])]);
  const bias = g.op('Mul', [g.op('Sub', [g.f32(1), mask]), g.f32(FLOAT_MIN)]);
  const scale = g.f32(1 / Math.sqrt(D));

  for (let i = 0; i < dims.layers; i++) {
    const p = `encoder.layer.${i}`;
    const q = splitHeads(dense(x, `${p}.attention.self.query`, H, H, 1 / Math.sqrt(H)));
    const k = splitHeads(dense(x, `${p}.attention.self.key`, H, H, 1 / Math.sqrt(H)));
    const v = splitHeads(dense(x, `${p}.attention.self.value`, H, H, 1 / Math.sqrt(H)));
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), scale]), bias]);
    let ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    ctx = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.i64([0, 0, H])]);
    const attnOut = dense(ctx, `${p}.attention.output.dense`, H, H, 0.5 / Math.sqrt(H));
    x = layerNorm(g.op('Add', [attnOut, x]), `${p}.attention.output.LayerNorm`);
    const inter = dense(x, `${p}.intermediate.dense`, H, I, 1 / Math.sqrt(H));
    // Exact-erf GELU, as BERT uses.
    const gelu = g.op('Mul', [g.op('Mul', [inter, g.f32(0.5)]), g.op('Add', [g.f32(1), g.op('Erf', [g.op('Div', [inter, g.f32(Math.SQRT2)])])])]);
    const out = dense(gelu, `${p}.output.dense`, I, H, 0.5 / Math.sqrt(I));
    x = layerNorm(g.op('Add', [out, x]), `${p}.output.LayerNorm`);
  }

  const inputs: ValueInfoDef[] = ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => ({
    name,
    dataType: DataType.INT64,
    shape: ['batch_size', 'sequence_length'],
  }));
  if (dims.labels > 0) {
    // Pooler (tanh on [CLS]) and a linear classifier.
    const cls = g.op('Gather', [x, g.i64(0)], { axis: 1 });
    const pooled = g.op('Tanh', [dense(cls, 'pooler.dense', H, H, 1 / Math.sqrt(H))]);
    const w = g.weight('classifier.weight_t', rng.normal(H * dims.labels, 1 / Math.sqrt(H)), [H, dims.labels]);
    const b = g.weight('classifier.bias', rng.normal(dims.labels, 0.1), [dims.labels]);
    g.opTo('Add', [g.op('MatMul', [pooled, w]), b], ['logits']);
    return g.graph('bert_cross_encoder', inputs, [{ name: 'logits', dataType: DataType.FLOAT, shape: ['batch_size', dims.labels] }]);
  }
  g.opTo('Identity', [x], ['last_hidden_state']);
  return g.graph('bert_encoder', inputs, [{ name: 'last_hidden_state', dataType: DataType.FLOAT, shape: ['batch_size', 'sequence_length', H] }]);
}
