// Exports a Llama fixture preset as f32 / q8_0 / q4_0 GGUF files for llama.cpp, with the very weights of its ONNX
// file: regenerated from the same seeded builder (models/builder/llama.ts), converted as convert_hf_to_gguf.py
// and llama-quantize would.
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildLlama, type LlamaDims } from '../../models/builder/llama.ts';
import { PRESETS } from '../../models/presets.ts';
import { quantizeQ4_0, quantizeQ8_0 } from './ggml-quants.ts';
import { gguf, GgmlType, writeGguf, type GgmlTypeCode, type GgufTensor, type GgufValue } from './gguf-writer.ts';

export const GGUF_VARIANTS = ['f32', 'q8_0', 'q4_0'] as const;
export type GgufVariant = (typeof GGUF_VARIANTS)[number];

/** llama_ftype codes (llama.h) for general.file_type. */
const FILE_TYPE: Record<GgufVariant, number> = { f32: 0, q8_0: 7, q4_0: 2 };
/** llama_token_type codes (gguf-py TokenType). */
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

export const ggufPath = (outDir: string, preset: string, variant: GgufVariant) => join(outDir, `${preset}.${variant}.gguf`);

/**
 * The type llama-quantize gives a 2-D weight. Norms stay F32. With tied embeddings token_embd is also the output
 * head, which q4_0 would make Q6_K; 576 columns are not a whole 256-block, so it falls back to Q8_0.
 */
function weightType(variant: GgufVariant, name: string): GgmlTypeCode {
  if (variant === 'f32') return GgmlType.F32;
  if (variant === 'q8_0' || name === 'token_embd.weight') return GgmlType.Q8_0;
  return GgmlType.Q4_0;
}

function encode(values: Float32Array, type: GgmlTypeCode): Uint8Array {
  if (type === GgmlType.Q8_0) return quantizeQ8_0(values);
  if (type === GgmlType.Q4_0) return quantizeQ4_0(values);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** The builder stores linear weights transposed, [in, out]; GGUF wants Hugging Face's [out, in] rows. */
function untranspose(wt: Float32Array, fin: number, fout: number): Float32Array {
  const w = new Float32Array(fin * fout);
  for (let i = 0; i < fin; i++) for (let o = 0; o < fout; o++) w[o * fin + i] = wt[i * fout + o] as number;
  return w;
}

/**
 * convert_hf_to_gguf.py LlamaModel.permute: within each head, rows move from rotate-half order (pair j with
 * j + D/2, what the ONNX graph computes) to interleaved pairs (2j, 2j + 1), what llama.cpp's rope rotates.
 */
function permuteForRope(w: Float32Array, heads: number, cols: number): Float32Array {
  const rows = w.length / cols;
  const D = rows / heads;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < D / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * D + s * (D / 2) + j) * cols;
        out.set(w.subarray(from, from + cols), (h * D + 2 * j + s) * cols);
      }
    }
  }
  return out;
}

interface TokenizerJson {
  added_tokens: Array<{ id: number; content: string; special: boolean }>;
  model: { type: string; vocab: Record<string, number>; merges: Array<string | [string, string]> };
}

/** tokenizer.ggml.* metadata from the fixture's tokenizer.json (byte-level BPE, SmolLM2's pre-tokenizer). */
function tokenizerMetadata(modelDir: string, vocabSize: number): Record<string, GgufValue> {
  const tok = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as TokenizerJson;
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { bos_token_id: number; eos_token_id: number; pad_token_id?: number };
  const template = (JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')) as { chat_template?: string }).chat_template;
  if (tok.model.type !== 'BPE') throw new Error(`expected a BPE tokenizer, got ${tok.model.type}`);
  const tokens: string[] = new Array(vocabSize);
  const types = new Int32Array(vocabSize).fill(TOKEN_NORMAL);
  for (const [text, id] of Object.entries(tok.model.vocab)) tokens[id] = text;
  for (const added of tok.added_tokens) {
    tokens[added.id] = added.content;
    types[added.id] = added.special ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
  }
  for (let i = 0; i < vocabSize; i++) if (tokens[i] === undefined) throw new Error(`tokenizer.json has no token ${i}`);
  return {
    'tokenizer.ggml.model': gguf.string('gpt2'),
    'tokenizer.ggml.pre': gguf.string('smollm'),
    'tokenizer.ggml.tokens': gguf.strings(tokens),
    'tokenizer.ggml.token_type': gguf.i32s(types),
    'tokenizer.ggml.merges': gguf.strings(tok.model.merges.map((m) => (typeof m === 'string' ? m : m.join(' ')))),
    'tokenizer.ggml.bos_token_id': gguf.u32(config.bos_token_id),
    'tokenizer.ggml.eos_token_id': gguf.u32(config.eos_token_id),
    'tokenizer.ggml.padding_token_id': gguf.u32(config.pad_token_id ?? config.eos_token_id),
    'tokenizer.ggml.add_bos_token': gguf.bool(false),
    ...(template ? { 'tokenizer.chat_template': gguf.string(template) } : {}),
  };
}

function hyperparameters(d: LlamaDims): Record<string, GgufValue> {
  return {
    'llama.vocab_size': gguf.u32(d.vocabSize),
    'llama.context_length': gguf.u32(d.maxPositions),
    'llama.embedding_length': gguf.u32(d.hiddenSize),
    'llama.block_count': gguf.u32(d.layers),
    'llama.feed_forward_length': gguf.u32(d.intermediateSize),
    'llama.attention.head_count': gguf.u32(d.heads),
    'llama.attention.head_count_kv': gguf.u32(d.kvHeads),
    'llama.attention.layer_norm_rms_epsilon': gguf.f32(d.rmsNormEps),
    'llama.rope.freq_base': gguf.f32(d.ropeTheta),
    'llama.rope.dimension_count': gguf.u32(d.hiddenSize / d.heads),
  };
}

/** Float32 views of the builder's weight initializers, by ONNX name. */
function seededWeights(dims: LlamaDims, seed: number): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  for (const init of buildLlama(dims, seed).initializers) {
    if (init.dims.length === 0 || init.dataType !== 1) continue; // graph constants
    weights.set(init.name, new Float32Array(init.raw.buffer, init.raw.byteOffset, init.raw.byteLength / 4));
  }
  return weights;
}

/** GGUF tensors (llama.cpp names, ggml dims) whose bytes are computed when written. No output.weight: tied head. */
function ggufTensors(d: LlamaDims, weights: Map<string, Float32Array>, variant: GgufVariant): GgufTensor[] {
  const get = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`the builder has no initializer ${name}`);
    return w;
  };
  const D = d.hiddenSize / d.heads;
  const tensors: GgufTensor[] = [];
  const norm = (name: string, from: string) => tensors.push({ name, dims: [d.hiddenSize], type: GgmlType.F32, data: () => encode(get(from), GgmlType.F32) });
  const linear = (name: string, from: string, fin: number, fout: number, ropeHeads?: number) => {
    const type = weightType(variant, name);
    tensors.push({
      name,
      dims: [fin, fout],
      type,
      data: () => {
        const w = untranspose(get(from), fin, fout);
        return encode(ropeHeads ? permuteForRope(w, ropeHeads, fin) : w, type);
      },
    });
  };
  const embType = weightType(variant, 'token_embd.weight');
  tensors.push({ name: 'token_embd.weight', dims: [d.hiddenSize, d.vocabSize], type: embType, data: () => encode(get('model.embed_tokens.weight'), embType) });
  for (let i = 0; i < d.layers; i++) {
    const p = `model.layers.${i}`;
    const b = `blk.${i}`;
    norm(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`);
    linear(`${b}.attn_q.weight`, `${p}.self_attn.q_proj.weight_t`, d.hiddenSize, d.heads * D, d.heads);
    linear(`${b}.attn_k.weight`, `${p}.self_attn.k_proj.weight_t`, d.hiddenSize, d.kvHeads * D, d.kvHeads);
    linear(`${b}.attn_v.weight`, `${p}.self_attn.v_proj.weight_t`, d.hiddenSize, d.kvHeads * D);
    linear(`${b}.attn_output.weight`, `${p}.self_attn.o_proj.weight_t`, d.heads * D, d.hiddenSize);
    norm(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`);
    linear(`${b}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight_t`, d.hiddenSize, d.intermediateSize);
    linear(`${b}.ffn_up.weight`, `${p}.mlp.up_proj.weight_t`, d.hiddenSize, d.intermediateSize);
    linear(`${b}.ffn_down.weight`, `${p}.mlp.down_proj.weight_t`, d.intermediateSize, d.hiddenSize);
  }
  norm('output_norm.weight', 'model.norm.weight');
  return tensors;
}

/** A GGUF older than the ONNX file it mirrors was made from other weights. */
function isFresh(file: string, modelDir: string): boolean {
  return existsSync(file) && statSync(file).mtimeMs >= statSync(join(modelDir, 'onnx', 'model.onnx')).mtimeMs;
}

/**
 * Writes `<outDir>/<preset>.<variant>.gguf` for each variant that is missing or stale; `modelDir` is the preset's
 * built folder (its tokenizer.json and config.json supply the vocabulary). Returns the paths by variant.
 */
export function exportGgufs(presetName: string, modelDir: string, outDir: string, variants: readonly GgufVariant[] = GGUF_VARIANTS, log: (line: string) => void = console.log): Record<GgufVariant, string> {
  const preset = PRESETS[presetName];
  if (preset?.kind !== 'llama') throw new Error(`"${presetName}" is not a llama preset`);
  const paths = Object.fromEntries(GGUF_VARIANTS.map((v) => [v, ggufPath(outDir, presetName, v)])) as Record<GgufVariant, string>;
  const missing = variants.filter((v) => !isFresh(paths[v], modelDir));
  if (missing.length === 0) return paths;
  const started = performance.now();
  const weights = seededWeights(preset.dims, preset.seed);
  const shared = { ...hyperparameters(preset.dims), ...tokenizerMetadata(modelDir, preset.dims.vocabSize) };
  for (const variant of missing) {
    const metadata: Record<string, GgufValue> = {
      'general.architecture': gguf.string('llama'),
      'general.name': gguf.string(`${presetName} (ovserve random-weight fixture)`),
      'general.file_type': gguf.u32(FILE_TYPE[variant]),
      ...(variant === 'f32' ? {} : { 'general.quantization_version': gguf.u32(2) }),
      ...shared,
    };
    const temp = `${paths[variant]}.writing-${process.pid}`;
    rmSync(temp, { force: true });
    writeGguf(temp, metadata, ggufTensors(preset.dims, weights, variant));
    renameSync(temp, paths[variant]);
  }
  log(`wrote ${missing.map((v) => paths[v]).join(', ')} in ${Math.round(performance.now() - started)} ms`);
  return paths;
}
