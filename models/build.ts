// Writes a fixture preset as a Hugging Face-layout model folder (atomically: temp dir, then rename).
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildBert } from './builder/bert.ts';
import { byteBpeTokenizer, CHATML_TEMPLATE, CHATML_TOOLS_TEMPLATE } from './builder/byte-bpe.ts';
import { writeDiffusion } from './builder/diffusion.ts';
import { buildLlama } from './builder/llama.ts';
import { buildIdentity, buildMlp } from './builder/mlp.ts';
import { writeModel } from './builder/graph.ts';
import { wordPieceTokenizer } from './builder/wordpiece.ts';
import { PRESETS, type BertPreset, type DiffusionPreset, type IdentityPreset, type LlamaPreset, type MlpPreset } from './presets.ts';

const NOTE = 'RANDOM-WEIGHT fixture built by ovserve (models/build.ts): a real architecture with meaningless weights.';

function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function writeBert(dir: string, preset: BertPreset): void {
  const d = preset.dims;
  const classifier = d.labels > 0;
  writeJson(join(dir, 'config.json'), {
    _comment: NOTE,
    architectures: [classifier ? 'BertForSequenceClassification' : 'BertModel'],
    model_type: 'bert',
    vocab_size: d.vocabSize,
    hidden_size: d.hiddenSize,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    intermediate_size: d.intermediateSize,
    hidden_act: 'gelu',
    max_position_embeddings: d.maxPositions,
    type_vocab_size: d.typeVocabSize,
    layer_norm_eps: d.layerNormEps,
    pad_token_id: 0,
    ...(classifier
      ? { id2label: Object.fromEntries(Array.from({ length: d.labels }, (_, i) => [String(i), `LABEL_${i}`])), label2id: Object.fromEntries(Array.from({ length: d.labels }, (_, i) => [`LABEL_${i}`, i])) }
      : {}),
  });
  const { tokenizerJson, tokenizerConfig } = wordPieceTokenizer(d.vocabSize, d.maxPositions);
  writeJson(join(dir, 'tokenizer.json'), tokenizerJson);
  writeJson(join(dir, 'tokenizer_config.json'), tokenizerConfig);
  if (!classifier) {
    // sentence-transformers layout: Transformer -> mean Pooling -> Normalize.
    writeJson(join(dir, 'modules.json'), [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
    ]);
    writeJson(join(dir, '1_Pooling', 'config.json'), { word_embedding_dimension: d.hiddenSize, pooling_mode_cls_token: false, pooling_mode_mean_tokens: true, pooling_mode_max_tokens: false, pooling_mode_lasttoken: false });
  }
  writeModel(join(dir, 'onnx', 'model.onnx'), buildBert(d, preset.seed));
}

function writeLlama(dir: string, preset: LlamaPreset): void {
  const d = preset.dims;
  writeJson(join(dir, 'config.json'), {
    _comment: NOTE,
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: d.vocabSize,
    hidden_size: d.hiddenSize,
    intermediate_size: d.intermediateSize,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    num_key_value_heads: d.kvHeads,
    head_dim: d.hiddenSize / d.heads,
    hidden_act: 'silu',
    max_position_embeddings: d.maxPositions,
    rms_norm_eps: d.rmsNormEps,
    rope_theta: d.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: true,
    attention_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 2,
    use_cache: true,
    torch_dtype: 'float32',
  });
  writeJson(join(dir, 'generation_config.json'), { bos_token_id: 1, eos_token_id: 2, pad_token_id: 2 });
  const { tokenizerJson, tokenizerConfig } = byteBpeTokenizer(d.vocabSize, d.maxPositions, preset.template === 'chatml-tools' ? CHATML_TOOLS_TEMPLATE : CHATML_TEMPLATE);
  writeJson(join(dir, 'tokenizer.json'), tokenizerJson);
  writeJson(join(dir, 'tokenizer_config.json'), tokenizerConfig);
  writeModel(join(dir, 'onnx', 'model.onnx'), buildLlama(d, preset.seed));
}

// Tensor-task models need only the graph; config.json marks the fixture (and is what isBuilt checks).
function writeMlp(dir: string, preset: MlpPreset): void {
  writeJson(join(dir, 'config.json'), { _comment: NOTE, model_type: 'mlp', ...preset.dims });
  writeModel(join(dir, 'onnx', 'model.onnx'), buildMlp(preset.dims, preset.seed));
}

function writeIdentity(dir: string, preset: IdentityPreset): void {
  writeJson(join(dir, 'config.json'), { _comment: 'Fixture built by ovserve (models/build.ts): Identity per data type, no weights.', model_type: 'identity' });
  writeModel(join(dir, 'onnx', 'model.onnx'), buildIdentity(preset.width));
}

// A diffusers pipeline folder: model_index.json at the top, a config.json per component.
function writeDiffusionPreset(dir: string, preset: DiffusionPreset): void {
  writeDiffusion(dir, preset.dims, preset.seed, NOTE);
}

/** Builds `presetName` into `dir`, replacing nothing that is already there. */
export function buildPreset(presetName: string, dir: string): void {
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`unknown fixture preset "${presetName}"; known: ${Object.keys(PRESETS).join(', ')}`);
  const temp = `${dir}.building-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  if (preset.kind === 'llama') writeLlama(temp, preset);
  else if (preset.kind === 'mlp') writeMlp(temp, preset);
  else if (preset.kind === 'identity') writeIdentity(temp, preset);
  else if (preset.kind === 'diffusion') writeDiffusionPreset(temp, preset);
  else writeBert(temp, preset);
  if (existsSync(dir)) rmSync(temp, { recursive: true, force: true });
  else renameSync(temp, dir);
}

export function isBuilt(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) || existsSync(join(dir, 'model_index.json'));
}
