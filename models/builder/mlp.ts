// Graphs for the `tensor` task: a tiny MLP classifier with mixed-type inputs, and an Identity per data type.
import { DataType, type DataTypeCode, type GraphDef, type ValueInfoDef } from './onnx.ts';
import { GraphBuilder } from './graph.ts';
import { createRng } from './random.ts';

export interface MlpDims {
  features: number;
  hidden: number;
  classes: number;
}

/** The symbolic first (batch) dimension of every tensor-fixture input and output. */
export const BATCH_DIM = 'batch';

/**
 * probabilities = Softmax(Relu(x' W1 + b1) W2 + b2), label = ArgMax(probabilities), where
 * x' = Where(mask, input * float(scale), 0): FP32, INT32 and BOOL in; FP32 and INT64 out.
 */
export function buildMlp(dims: MlpDims, seed: number): GraphDef {
  const rng = createRng(seed);
  const { features: F, hidden: H, classes: C } = dims;
  const g = new GraphBuilder();

  const dense = (x: string, prefix: string, fin: number, fout: number) => {
    const w = g.weight(`${prefix}.weight_t`, rng.normal(fin * fout, 1 / Math.sqrt(fin)), [fin, fout]);
    const b = g.weight(`${prefix}.bias`, rng.normal(fout, 0.1), [fout]);
    return g.op('Add', [g.op('MatMul', [x, w]), b]);
  };

  // [batch, 1] int32 scale broadcasts over the features; masked-out features become exactly 0.
  const scaled = g.op('Mul', ['input', g.op('Cast', ['scale'], { to: DataType.FLOAT })]);
  const masked = g.op('Where', ['mask', scaled, g.f32(0)]);
  const hidden = g.op('Relu', [dense(masked, 'fc1', F, H)]);
  const logits = dense(hidden, 'fc2', H, C);
  const probabilities = g.opTo('Softmax', [logits], ['probabilities'], { axis: -1 });
  // ArgMax of the probabilities (not the logits) so `label` agrees with them even on float ties.
  g.opTo('ArgMax', [probabilities], ['label'], { axis: 1, keepdims: 0 });

  return g.graph(
    'mlp_classifier',
    [
      { name: 'input', dataType: DataType.FLOAT, shape: [BATCH_DIM, F] },
      { name: 'scale', dataType: DataType.INT32, shape: [BATCH_DIM, 1] },
      { name: 'mask', dataType: DataType.BOOL, shape: [BATCH_DIM, F] },
    ],
    [
      { name: 'probabilities', dataType: DataType.FLOAT, shape: [BATCH_DIM, C] },
      { name: 'label', dataType: DataType.INT64, shape: [BATCH_DIM] },
    ],
  );
}

/** Every tensor type the runtime exchanges (onnxruntime's names) and its ONNX code. */
export const IDENTITY_TYPES: Record<string, DataTypeCode> = {
  bool: DataType.BOOL,
  uint8: DataType.UINT8,
  uint16: DataType.UINT16,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
  int8: DataType.INT8,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  float16: DataType.FLOAT16,
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
};

/** `input_<type>` [batch, width] passes unchanged to `output_<type>`, for each of IDENTITY_TYPES. */
export function buildIdentity(width: number): GraphDef {
  const g = new GraphBuilder();
  const inputs: ValueInfoDef[] = [];
  const outputs: ValueInfoDef[] = [];
  for (const [type, dataType] of Object.entries(IDENTITY_TYPES)) {
    g.opTo('Identity', [`input_${type}`], [`output_${type}`]);
    inputs.push({ name: `input_${type}`, dataType, shape: [BATCH_DIM, width] });
    outputs.push({ name: `output_${type}`, dataType, shape: [BATCH_DIM, width] });
  }
  return g.graph('identity_per_type', inputs, outputs);
}
