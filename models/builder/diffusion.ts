// Writes a Stable-Diffusion-style pipeline folder in the diffusers / Optimum ONNX layout: model_index.json,
// scheduler/, tokenizer/, text_encoder/, unet/, vae_decoder/, vae_encoder/ (model.onnx + config.json each).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { clipTokenizer } from './clip-bpe.ts';
import { buildClipText, type ClipTextDims } from './clip-text.ts';
import { writeModel } from './graph.ts';
import { buildUNet, type UNetDims } from './unet.ts';
import { buildVaeDecoder, buildVaeEncoder, type VaeDims } from './vae.ts';

export interface DiffusionDims {
  text: ClipTextDims;
  unet: UNetDims;
  vae: VaeDims;
}

const DIFFUSERS_VERSION = '0.30.0';

function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** EulerDiscreteScheduler with Stable Diffusion 1.5's training schedule. */
const SCHEDULER_CONFIG = {
  _class_name: 'EulerDiscreteScheduler',
  _diffusers_version: DIFFUSERS_VERSION,
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  sigma_min: null,
  sigma_max: null,
  timestep_spacing: 'leading',
  timestep_type: 'discrete',
  steps_offset: 1,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
};

/** Builds every graph and config of the pipeline into `dir`; `seed` derives one seed per component. */
export function writeDiffusion(dir: string, dims: DiffusionDims, seed: number, note: string): void {
  const { text, unet, vae } = dims;
  if (unet.crossAttentionDim !== text.hiddenSize) throw new Error('diffusion: unet cross_attention_dim must equal the text encoder hidden_size');
  if (unet.inChannels !== vae.latentChannels || unet.outChannels !== vae.latentChannels) throw new Error('diffusion: unet in/out channels must equal the VAE latent_channels');

  writeJson(join(dir, 'model_index.json'), {
    _class_name: 'StableDiffusionPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    _comment: note,
    feature_extractor: [null, null],
    image_encoder: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', 'EulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  });
  writeJson(join(dir, 'scheduler', 'scheduler_config.json'), SCHEDULER_CONFIG);

  const tokenizer = clipTokenizer(text.vocabSize, text.maxPositions);
  writeJson(join(dir, 'tokenizer', 'tokenizer.json'), tokenizer.tokenizerJson);
  writeJson(join(dir, 'tokenizer', 'tokenizer_config.json'), tokenizer.tokenizerConfig);
  writeJson(join(dir, 'tokenizer', 'special_tokens_map.json'), tokenizer.specialTokensMap);
  writeJson(join(dir, 'tokenizer', 'vocab.json'), tokenizer.vocab);
  writeFileSync(join(dir, 'tokenizer', 'merges.txt'), tokenizer.merges);

  writeJson(join(dir, 'text_encoder', 'config.json'), {
    _comment: note,
    architectures: ['CLIPTextModel'],
    model_type: 'clip_text_model',
    vocab_size: text.vocabSize,
    hidden_size: text.hiddenSize,
    intermediate_size: text.intermediateSize,
    num_hidden_layers: text.layers,
    num_attention_heads: text.heads,
    max_position_embeddings: text.maxPositions,
    hidden_act: 'quick_gelu',
    layer_norm_eps: text.layerNormEps,
    attention_dropout: 0,
    dropout: 0,
    bos_token_id: tokenizer.bosId,
    eos_token_id: tokenizer.eosId,
    pad_token_id: tokenizer.eosId,
    torch_dtype: 'float32',
  });
  writeModel(join(dir, 'text_encoder', 'model.onnx'), buildClipText(text, seed));

  writeJson(join(dir, 'unet', 'config.json'), {
    _class_name: 'UNet2DConditionModel',
    _diffusers_version: DIFFUSERS_VERSION,
    _comment: note,
    act_fn: 'silu',
    attention_head_dim: unet.attentionHeadDim,
    block_out_channels: unet.blockOutChannels,
    center_input_sample: false,
    cross_attention_dim: unet.crossAttentionDim,
    down_block_types: unet.downBlockTypes,
    downsample_padding: 1,
    flip_sin_to_cos: true,
    freq_shift: 0,
    in_channels: unet.inChannels,
    layers_per_block: unet.layersPerBlock,
    mid_block_scale_factor: 1,
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    norm_eps: unet.normEps,
    norm_num_groups: unet.normNumGroups,
    out_channels: unet.outChannels,
    sample_size: unet.sampleSize,
    up_block_types: unet.upBlockTypes,
    use_linear_projection: false,
  });
  writeModel(join(dir, 'unet', 'model.onnx'), buildUNet(unet, seed + 1));

  const vaeConfig = {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    _comment: note,
    act_fn: 'silu',
    block_out_channels: vae.blockOutChannels,
    down_block_types: vae.blockOutChannels.map(() => 'DownEncoderBlock2D'),
    up_block_types: vae.blockOutChannels.map(() => 'UpDecoderBlock2D'),
    in_channels: vae.inChannels,
    out_channels: vae.outChannels,
    latent_channels: vae.latentChannels,
    layers_per_block: vae.layersPerBlock,
    norm_num_groups: vae.normNumGroups,
    sample_size: vae.sampleSize,
    scaling_factor: vae.scalingFactor,
  };
  writeJson(join(dir, 'vae_decoder', 'config.json'), vaeConfig);
  writeModel(join(dir, 'vae_decoder', 'model.onnx'), buildVaeDecoder(vae, seed + 2));
  writeJson(join(dir, 'vae_encoder', 'config.json'), vaeConfig);
  writeModel(join(dir, 'vae_encoder', 'model.onnx'), buildVaeEncoder(vae, seed + 3));
}
