// The int8 MatMul rewrite: graph shape, what onnxruntime-node fuses it into, and how close the
// rewritten tiny decoder and encoder stay to FP32 (teacher-forced top-1 over 128 decode steps).
import * as ort from 'onnxruntime-node';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataType, decodeModel, encodeModel, type ModelProto } from '../../runtime/onnx/model-proto.ts';
import { concatBytes } from '../../runtime/onnx/protobuf-writer.ts';
import { quantizeInt8, type Int8Options } from '../../runtime/onnx/quantize-int8.ts';
import { float32Values } from '../../runtime/onnx/tensor-data.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { SHARED_MODELS_DIR, sharedModelsAvailable } from '../helpers/paths.ts';

const work = mkdtempSync(join(tmpdir(), 'ovserve-int8-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const modelFile = (dir: string) => join(dir, 'onnx', 'model.onnx');
const load = (file: string) => decodeModel(readFileSync(file));

/** Rewrites `source` into the work folder; returns the new file and the rewrite's report. */
function rewriteTo(source: string, name: string, options?: Int8Options) {
  const result = quantizeInt8(load(source), options);
  const file = join(work, `${name}.onnx`);
  writeFileSync(file, concatBytes(encodeModel(result.model)));
  return { file, ...result };
}

const session = (file: string, extra: ort.InferenceSession.SessionOptions = {}) =>
  ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, ...extra });
const i64 = (a: readonly number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);

const opCounts = (m: ModelProto) => {
  const counts: Record<string, number> = {};
  for (const n of m.graph.node) {
    const key = n.domain ? `${n.domain}.${n.opType}` : (n.opType as string);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
};

/** The graph onnxruntime runs after its (extended) optimizer passes, read back with our decoder. */
async function optimizedGraph(file: string): Promise<ModelProto> {
  const out = `${file}.optimized.onnx`;
  const s = await session(file, { graphOptimizationLevel: 'extended', optimizedModelFilePath: out });
  await s.release();
  return load(out);
}

function compare(a: ArrayLike<number>, b: ArrayLike<number>) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
    maxAbs = Math.max(maxAbs, Math.abs(x - y));
  }
  return { cosine: dot / Math.sqrt(na * nb), maxAbs };
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

describe('int8 rewrite of the tiny Llama decoder', () => {
  const source = modelFile(fixturePath('tiny-chat'));
  const original = load(source);
  const { file, model, quantized, skipped } = rewriteTo(source, 'tiny-chat');

  it('quantizes the projections, the MLP and the tied LM head, and leaves the rest alone', () => {
    // Per layer q, o, gate, up, down (k and v are 64x32 = 2048 < 4096 elements); plus the LM head.
    expect(quantized).toHaveLength(2 * 5 + 1);
    const head = quantized.find((q) => q.transposed);
    expect(head).toMatchObject({ weight: 'model.embed_tokens.weight', k: 64, n: 2048 });
    expect(quantized.filter((q) => q.weight.includes('k_proj') || q.weight.includes('v_proj'))).toEqual([]);
    // Attention's activation x activation MatMuls are reported, not touched.
    expect(skipped.map((s) => s.reason)).toEqual(Array(4).fill('B is not a constant initializer'));
    expect(original.graph.node.length).toBe(decodeModel(readFileSync(source)).graph.node.length); // input not mutated
  });

  it('keeps the embedding table FP32 for the Gather and drops what the rewrite orphaned', () => {
    const inits = new Map(model.graph.initializer.map((t) => [t.name, t]));
    const table = inits.get('model.embed_tokens.weight')!;
    expect(table.dataType).toBe(DataType.FLOAT);
    expect(model.graph.node.filter((n) => n.input.includes('model.embed_tokens.weight')).map((n) => n.opType)).toEqual(['Gather']);
    expect(model.graph.node.some((n) => n.opType === 'Transpose' && n.input[0] === 'model.embed_tokens.weight')).toBe(false);
    expect(inits.get('model.embed_tokens.weight_transposed_quantized')).toMatchObject({ dataType: DataType.INT8, dims: [64, 2048] });
    expect(inits.get('model.embed_tokens.weight_transposed_scale')).toMatchObject({ dataType: DataType.FLOAT, dims: [2048] });
    expect(inits.has('model.layers.0.self_attn.q_proj.weight_t')).toBe(false);
    expect(inits.get('model.layers.0.self_attn.q_proj.weight_t_quantized')).toMatchObject({ dataType: DataType.INT8, dims: [64, 64] });
    expect(inits.get('model.layers.0.self_attn.k_proj.weight_t')?.dataType).toBe(DataType.FLOAT);
    expect(inits.get('model.layers.0.self_attn.q_proj.weight_t_zero_point')).toMatchObject({ dataType: DataType.INT8, dims: [64] });
    // One DynamicQuantizeLinear per activation, shared by its readers (gate and up read one):
    // per layer the normed input, the merged heads, the second norm and the MLP product; plus the head's.
    expect(opCounts(model)).toMatchObject({ MatMulInteger: 11, DynamicQuantizeLinear: 2 * 4 + 1, Cast: 2 + 11 });
    expect(model.graph.output.map((o) => o.name)).toEqual(original.graph.output.map((o) => o.name));
  });

  it('is fused by onnxruntime into its int8 kernels (MatMulIntegerToFloat, DynamicQuantizeMatMul)', async () => {
    const counts = opCounts(await optimizedGraph(file));
    const fused = (counts['com.microsoft.DynamicQuantizeMatMul'] ?? 0) + (counts['com.microsoft.MatMulIntegerToFloat'] ?? 0);
    expect(fused).toBe(quantized.length);
    expect(counts.MatMulInteger).toBeUndefined();
  });

  it('follows FP32 over 128 teacher-forced decode steps (top-1 agreement, logits error)', async () => {
    const r = await teacherForced(source, file, fixturePath('tiny-chat'), 2048);
    console.log(`tiny-llama-chat int8: top-1 agreement ${r.agree}/128 (${r.distinct} distinct FP32 tokens), logits max |diff| ${r.maxAbs.toFixed(4)} (FP32 logits span ${r.span.toFixed(2)}), min cosine ${r.minCosine.toFixed(5)}`);
    expect(r.agree / 128).toBeGreaterThanOrEqual(0.9);
    expect(r.minCosine).toBeGreaterThan(0.99);
  });

  it.runIf(sharedModelsAvailable)('the shared python-onnx SmolLM2 export rewrites (tied head included) and follows FP32', async () => {
    const dir = join(SHARED_MODELS_DIR, 'tiny-random-smollm2');
    const shared = rewriteTo(modelFile(dir), 'shared-smollm2');
    expect(shared.quantized).toHaveLength(11);
    expect(shared.quantized.filter((q) => q.transposed).map((q) => q.weight)).toEqual(['model.embed_tokens.weight']);
    const r = await teacherForced(modelFile(dir), shared.file, dir, 49152);
    console.log(`tiny-random-smollm2 int8: top-1 agreement ${r.agree}/128 (${r.distinct} distinct FP32 tokens), logits max |diff| ${r.maxAbs.toFixed(4)} (FP32 logits span ${r.span.toFixed(2)}), min cosine ${r.minCosine.toFixed(5)}`);
    expect(r.agree / 128).toBeGreaterThanOrEqual(0.9);
    expect(r.minCosine).toBeGreaterThan(0.99);
  });
});

/**
 * Runs FP32 and int8 side by side with a KV cache: a 16-token prompt, then 128 steps in which both
 * read FP32's greedy token (teacher forcing); counts how often int8's top-1 is FP32's.
 */
async function teacherForced(fp32File: string, int8File: string, modelDir: string, vocab: number) {
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { num_hidden_layers: number; num_key_value_heads: number; hidden_size: number; num_attention_heads: number };
  const headDim = config.hidden_size / config.num_attention_heads;
  const [fp32, int8] = await Promise.all([session(fp32File), session(int8File)]);
  const cacheNames = Array.from({ length: config.num_hidden_layers }, (_, l) => ['key', 'value'].map((k) => `${l}.${k}`)).flat();
  const emptyPast = () => Object.fromEntries(cacheNames.map((n) => [`past_key_values.${n}`, new ort.Tensor('float32', new Float32Array(0), [1, config.num_key_value_heads, 0, headDim])]));
  const step = async (s: ort.InferenceSession, ids: number[], cached: number, past: Record<string, ort.Tensor>) => {
    const out = await s.run({
      input_ids: i64(ids, [1, ids.length]),
      attention_mask: i64(Array(cached + ids.length).fill(1), [1, cached + ids.length]),
      position_ids: i64(ids.map((_, t) => cached + t), [1, ids.length]),
      ...past,
    });
    const logits = (out.logits as ort.Tensor).data as Float32Array;
    const next = Object.fromEntries(cacheNames.map((n) => [`past_key_values.${n}`, out[`present.${n}`] as ort.Tensor]));
    return { logits: logits.subarray((ids.length - 1) * vocab), past: next };
  };
  const prompt = Array.from({ length: 16 }, (_, t) => 3 + ((t * 104729) % (vocab - 3)));
  let a = await step(fp32, prompt, 0, emptyPast());
  let b = await step(int8, prompt, 0, emptyPast());
  let agree = 0;
  let maxAbs = 0;
  let minCosine = 1;
  let span = 0;
  const tokens = new Set<number>();
  for (let t = 0; t < 128; t++) {
    const token = argmax(a.logits);
    tokens.add(token);
    if (argmax(b.logits) === token) agree++;
    const c = compare(a.logits, b.logits);
    maxAbs = Math.max(maxAbs, c.maxAbs);
    minCosine = Math.min(minCosine, c.cosine);
    span = Math.max(span, Math.max(...a.logits) - Math.min(...a.logits));
    a = await step(fp32, [token], prompt.length + t, a.past);
    b = await step(int8, [token], prompt.length + t, b.past);
  }
  await fp32.release();
  await int8.release();
  return { agree, maxAbs, minCosine, span, distinct: tokens.size };
}

describe('int8 rewrite of BERT encoders', () => {
  async function embeddingsClose(source: string, name: string, vocab: number) {
    // Tiny encoders are all below the default size floor; quantize every constant-weight MatMul.
    const { file, quantized } = rewriteTo(source, name, { minElements: 1 });
    const [fp32, int8] = await Promise.all([session(source), session(file)]);
    const batch = 3;
    const length = 12;
    const ids = Array.from({ length: batch * length }, (_, i) => (i % length === 0 ? 101 : 1000 + ((i * 7919) % (vocab - 1000))));
    const mask = ids.map((_, i) => (Math.floor(i / length) === 2 && i % length >= 8 ? 0 : 1)); // row 2 is padded
    const feeds = { input_ids: i64(ids, [batch, length]), attention_mask: i64(mask, [batch, length]), token_type_ids: i64(ids.map(() => 0), [batch, length]) };
    const ha = ((await fp32.run(feeds)).last_hidden_state as ort.Tensor).data as Float32Array;
    const hb = ((await int8.run(feeds)).last_hidden_state as ort.Tensor).data as Float32Array;
    await fp32.release();
    await int8.release();
    const dim = ha.length / (batch * length);
    const pooled = (h: Float32Array, row: number) => {
      const v = new Float64Array(dim);
      for (let t = 0; t < length; t++) if (mask[row * length + t]) for (let d = 0; d < dim; d++) v[d] = v[d]! + h[(row * length + t) * dim + d]!;
      return v;
    };
    const cosines = Array.from({ length: batch }, (_, row) => compare(pooled(ha, row), pooled(hb, row)).cosine);
    const { maxAbs } = compare(ha, hb);
    return { file, quantized, minCosine: Math.min(...cosines), maxAbs };
  }

  it('tiny-bert-embed: every projection quantized, fused by onnxruntime, mean-pooled embeddings close to FP32', async () => {
    const r = await embeddingsClose(modelFile(fixturePath('tiny-embed')), 'tiny-embed', 4096);
    console.log(`tiny-bert-embed int8: last_hidden_state max |diff| ${r.maxAbs.toFixed(4)}, mean-pooled min cosine ${r.minCosine.toFixed(6)}`);
    expect(r.quantized).toHaveLength(2 * 6); // q, k, v, attention output, intermediate, output per layer
    expect(r.minCosine).toBeGreaterThan(0.999);
    expect(r.maxAbs).toBeLessThan(0.25);
    const counts = opCounts(await optimizedGraph(r.file));
    expect((counts['com.microsoft.MatMulIntegerToFloat'] ?? 0) + (counts['com.microsoft.DynamicQuantizeMatMul'] ?? 0)).toBe(12);
  });

  it.runIf(sharedModelsAvailable)('the shared python-onnx MiniLM export rewrites and stays close', async () => {
    const r = await embeddingsClose(join(SHARED_MODELS_DIR, 'tiny-random-minilm-embed', 'onnx', 'model.onnx'), 'shared-minilm', 30522);
    console.log(`tiny-random-minilm-embed int8: last_hidden_state max |diff| ${r.maxAbs.toFixed(4)}, mean-pooled min cosine ${r.minCosine.toFixed(6)}`);
    expect(r.quantized.length).toBeGreaterThan(0);
    expect(r.minCosine).toBeGreaterThan(0.999);
  });
});

describe('int8 rewrite options and refusals', () => {
  const source = modelFile(fixturePath('tiny-chat'));

  it('reduceRange keeps weights in 7 bits', () => {
    const { model } = quantizeInt8(load(source), { reduceRange: true });
    const q = model.graph.initializer.find((t) => t.name === 'model.layers.0.mlp.up_proj.weight_t_quantized')!;
    const values = new Int8Array(q.rawData!.buffer, q.rawData!.byteOffset, q.rawData!.length);
    expect(Math.max(...Array.from(values, Math.abs))).toBe(63);
  });

  it('returns the model itself when nothing qualifies', () => {
    const model = load(source);
    const result = quantizeInt8(model, { minElements: Number.MAX_SAFE_INTEGER });
    expect(result.model).toBe(model);
    expect(result.quantized).toEqual([]);
  });

  it('refuses opsets before 11, which lack DynamicQuantizeLinear', () => {
    const model = load(source);
    expect(() => quantizeInt8({ ...model, opsetImport: [{ domain: '', version: 10, other: [] }] })).toThrow(/opset 11/);
  });

  it('never touches a weight that is also a graph input (overridable at run time)', () => {
    const model = load(source);
    const weight = 'model.layers.0.mlp.up_proj.weight_t';
    const withInput: ModelProto = { ...model, graph: { ...model.graph, input: [...model.graph.input, { name: weight, other: [] }] } };
    const { quantized } = quantizeInt8(withInput);
    expect(quantized.map((q) => q.weight)).not.toContain(weight);
    expect(quantized).toHaveLength(10);
  });

  it('reads float_data weights as well as raw_data', () => {
    const model = load(source);
    const asFloatData: ModelProto = {
      ...model,
      graph: { ...model.graph, initializer: model.graph.initializer.map((t) => (t.dataType === DataType.FLOAT ? { ...t, rawData: undefined, floatData: Float32Array.from(float32Values(t)!) } : t)) },
    };
    const a = quantizeInt8(model).model.graph.initializer.find((t) => t.name === 'model.layers.1.mlp.down_proj.weight_t_quantized')!;
    const b = quantizeInt8(asFloatData).model.graph.initializer.find((t) => t.name === 'model.layers.1.mlp.down_proj.weight_t_quantized')!;
    expect(Buffer.compare(a.rawData!, b.rawData!)).toBe(0);
  });
});
