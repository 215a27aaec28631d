// A diffusers / Optimum ONNX pipeline folder: model_index.json, tokenizer/, text_encoder/, unet/,
// vae_decoder/, vae_encoder/ (edits) and scheduler/, read into what the image task needs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../errors.ts';
import { readJson, readOptionalJson } from '../manifest.ts';

export interface DiffusionManifest {
  dir: string;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  schedulerConfig: Record<string, unknown>;
  /** The text encoder's context (CLIP: 77) and width. */
  contextLength: number;
  hiddenSize: number;
  /** Pixels per latent cell (8 for SD's VAE). */
  vaeScale: number;
  /** Image sides must be multiples of this: the VAE's scale times the UNet's downsampling. */
  sizeMultiple: number;
  /** The side the UNet was trained at, in pixels: the default size. */
  defaultSide: number;
  scalingFactor: number;
  /** The networks' folders; vae_encoder only when the pipeline can edit. */
  folders: { textEncoder: string; unet: string; vaeDecoder: string; vaeEncoder?: string };
}

const number = (config: Record<string, unknown>, key: string, file: string, fallback?: number): number => {
  const value = config[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RuntimeError('internal', `${file}: '${key}' is missing or not a number`);
  return value;
};

const list = (config: Record<string, unknown>, key: string, file: string): unknown[] => {
  const value = config[key];
  if (!Array.isArray(value) || value.length === 0) throw new RuntimeError('internal', `${file}: '${key}' is missing or empty`);
  return value;
};

export function isDiffusionFolder(dir: string): boolean {
  return existsSync(join(dir, 'model_index.json'));
}

export function readDiffusionManifest(dir: string): DiffusionManifest {
  if (!isDiffusionFolder(dir)) throw new RuntimeError('internal', `no diffusion pipeline at ${dir} (model_index.json missing)`);
  const folder = (name: string) => join(dir, name);
  const configOf = (name: string, file = 'config.json') => {
    const path = join(dir, name, file);
    if (!existsSync(path)) throw new RuntimeError('internal', `the pipeline at ${dir} has no ${name}/${file}`);
    return { config: readJson(path), path };
  };
  const text = configOf('text_encoder');
  const unet = configOf('unet');
  const vae = configOf('vae_decoder');
  const scheduler = configOf('scheduler', 'scheduler_config.json');
  const vaeScale = 2 ** (list(vae.config, 'block_out_channels', vae.path).length - 1);
  const unetDownsampling = 2 ** (list(unet.config, 'block_out_channels', unet.path).length - 1);
  const tokenizerFile = join(dir, 'tokenizer', 'tokenizer.json');
  if (!existsSync(tokenizerFile)) throw new RuntimeError('internal', `the pipeline at ${dir} has no tokenizer/tokenizer.json`);
  return {
    dir,
    tokenizerJson: readJson(tokenizerFile),
    tokenizerConfig: readOptionalJson(join(dir, 'tokenizer', 'tokenizer_config.json')) ?? {},
    schedulerConfig: scheduler.config,
    contextLength: number(text.config, 'max_position_embeddings', text.path),
    hiddenSize: number(text.config, 'hidden_size', text.path),
    vaeScale,
    sizeMultiple: vaeScale * unetDownsampling,
    defaultSide: number(unet.config, 'sample_size', unet.path) * vaeScale,
    scalingFactor: number(vae.config, 'scaling_factor', vae.path, 0.18215),
    folders: {
      textEncoder: folder('text_encoder'),
      unet: folder('unet'),
      vaeDecoder: folder('vae_decoder'),
      ...(existsSync(folder('vae_encoder')) ? { vaeEncoder: folder('vae_encoder') } : {}),
    },
  };
}
