// Fixture presets: tiny models for tests and the default config, real-sized shapes for benchmarks.
import type { BertDims } from './builder/bert.ts';
import type { DiffusionDims } from './builder/diffusion.ts';
import type { LlamaDims } from './builder/llama.ts';
import type { MlpDims } from './builder/mlp.ts';

export interface BertPreset {
  kind: 'bert';
  description: string;
  dims: BertDims;
  seed: number;
}

export interface LlamaPreset {
  kind: 'llama';
  description: string;
  dims: LlamaDims;
  seed: number;
  /** chatml, or chatml-tools: ChatML with Hermes tool calls and think blocks (the same text without them). */
  template?: 'chatml' | 'chatml-tools';
}

/** A `tensor`-task graph: an MLP classifier over FP32/INT32/BOOL inputs. */
export interface MlpPreset {
  kind: 'mlp';
  description: string;
  dims: MlpDims;
  seed: number;
}

/** A `tensor`-task graph with one Identity per data type (no weights). */
export interface IdentityPreset {
  kind: 'identity';
  description: string;
  /** The fixed second dimension of every input and output. */
  width: number;
}

/** A Stable-Diffusion-style pipeline folder (diffusers / Optimum ONNX layout). */
export interface DiffusionPreset {
  kind: 'diffusion';
  description: string;
  dims: DiffusionDims;
  seed: number;
}

export type Preset = BertPreset | LlamaPreset | MlpPreset | IdentityPreset | DiffusionPreset;

const tinyBert = { vocabSize: 4096, hiddenSize: 32, layers: 2, heads: 2, intermediateSize: 64, maxPositions: 128, typeVocabSize: 2, layerNormEps: 1e-12 };
// all-MiniLM-L6-v2 / ms-marco-MiniLM-L-6-v2 shapes.
const miniLm = { vocabSize: 30522, hiddenSize: 384, layers: 6, heads: 12, intermediateSize: 1536, maxPositions: 512, typeVocabSize: 2, layerNormEps: 1e-12 };

const tinyLlama: LlamaDims = { vocabSize: 2048, hiddenSize: 64, layers: 2, heads: 4, kvHeads: 2, intermediateSize: 128, maxPositions: 1024, rmsNormEps: 1e-5, ropeTheta: 100000 };
// HuggingFaceTB/SmolLM2-135M shape.
const smolLm2: LlamaDims = { vocabSize: 49152, hiddenSize: 576, layers: 30, heads: 9, kvHeads: 3, intermediateSize: 1536, maxPositions: 8192, rmsNormEps: 1e-5, ropeTheta: 100000 };

// 64x64 images (8x8 latents): every graph runs in milliseconds.
const tinySd: DiffusionDims = {
  text: { vocabSize: 2048, hiddenSize: 32, layers: 2, heads: 2, intermediateSize: 64, maxPositions: 77, layerNormEps: 1e-5 },
  unet: {
    sampleSize: 8,
    inChannels: 4,
    outChannels: 4,
    blockOutChannels: [32, 64],
    layersPerBlock: 1,
    downBlockTypes: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    crossAttentionDim: 32,
    attentionHeadDim: 2,
    normNumGroups: 8,
    normEps: 1e-5,
  },
  vae: { inChannels: 3, outChannels: 3, latentChannels: 4, blockOutChannels: [16, 32, 32, 32], layersPerBlock: 1, normNumGroups: 8, scalingFactor: 0.18215, sampleSize: 64 },
};
// SD-1.5's block structure at a fifth of its widths; 256x256 images (32x32 latents).
const sdBench: DiffusionDims = {
  text: { vocabSize: 4096, hiddenSize: 128, layers: 4, heads: 4, intermediateSize: 512, maxPositions: 77, layerNormEps: 1e-5 },
  unet: {
    sampleSize: 32,
    inChannels: 4,
    outChannels: 4,
    blockOutChannels: [64, 128, 256],
    layersPerBlock: 2,
    downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    crossAttentionDim: 128,
    attentionHeadDim: 8,
    normNumGroups: 32,
    normEps: 1e-5,
  },
  vae: { inChannels: 3, outChannels: 3, latentChannels: 4, blockOutChannels: [32, 64, 64, 64], layersPerBlock: 2, normNumGroups: 32, scalingFactor: 0.18215, sampleSize: 256 },
};

export const PRESETS: Record<string, Preset> = {
  'tiny-llama-chat': { kind: 'llama', description: 'tiny random Llama decoder with KV cache, ChatML template with tools and think blocks', dims: tinyLlama, seed: 7005, template: 'chatml-tools' },
  'smollm2-135m-chat': { kind: 'llama', description: 'SmolLM2-135M-shaped random Llama decoder (benchmarks)', dims: smolLm2, seed: 7006 },
  'tiny-bert-embed': { kind: 'bert', description: 'tiny random BERT encoder, mean pooling, normalised', dims: { ...tinyBert, labels: 0 }, seed: 7001 },
  'tiny-bert-rerank': { kind: 'bert', description: 'tiny random BERT cross-encoder, one logit', dims: { ...tinyBert, labels: 1 }, seed: 7002 },
  'minilm-l6-embed': { kind: 'bert', description: 'all-MiniLM-L6-v2-shaped random encoder (benchmarks)', dims: { ...miniLm, labels: 0 }, seed: 7003 },
  'minilm-l6-rerank': { kind: 'bert', description: 'ms-marco-MiniLM-L-6-v2-shaped random cross-encoder (benchmarks)', dims: { ...miniLm, labels: 1 }, seed: 7004 },
  'tiny-mlp-tensor': { kind: 'mlp', description: 'tiny random MLP classifier: FP32/INT32/BOOL in, FP32/INT64 out', dims: { features: 4, hidden: 8, classes: 3 }, seed: 7008 },
  'tiny-identity-tensor': { kind: 'identity', description: 'Identity per data type (bool, [u]int8-64, fp16/32/64)', width: 3 },
  'tiny-sd': { kind: 'diffusion', description: 'tiny random Stable Diffusion pipeline (CLIP text, UNet, VAE), 64x64 images', dims: tinySd, seed: 7010 },
  'sd-bench': { kind: 'diffusion', description: 'wider random Stable Diffusion pipeline, 256x256 images (benchmarks)', dims: sdBench, seed: 7011 },
};
