// Fixture presets: tiny models for tests and the default config, real-sized shapes for benchmarks.
import type { BertDims } from './builder/bert.ts';

export interface BertPreset {
  kind: 'bert';
  description: string;
  dims: BertDims;
  seed: number;
}

export type Preset = BertPreset;

const tinyBert = { vocabSize: 4096, hiddenSize: 32, layers: 2, heads: 2, intermediateSize: 64, maxPositions: 128, typeVocabSize: 2, layerNormEps: 1e-12 };
// all-MiniLM-L6-v2 / ms-marco-MiniLM-L-6-v2 shapes.
const miniLm = { vocabSize: 30522, hiddenSize: 384, layers: 6, heads: 12, intermediateSize: 1536, maxPositions: 512, typeVocabSize: 2, layerNormEps: 1e-12 };

export const PRESETS: Record<string, Preset> = {
  'tiny-bert-embed': { kind: 'bert', description: 'tiny random BERT encoder, mean pooling, normalised', dims: { ...tinyBert, labels: 0 }, seed: 7001 },
  'tiny-bert-rerank': { kind: 'bert', description: 'tiny random BERT cross-encoder, one logit', dims: { ...tinyBert, labels: 1 }, seed: 7002 },
  'minilm-l6-embed': { kind: 'bert', description: 'all-MiniLM-L6-v2-shaped random encoder (benchmarks)', dims: { ...miniLm, labels: 0 }, seed: 7003 },
  'minilm-l6-rerank': { kind: 'bert', description: 'ms-marco-MiniLM-L-6-v2-shaped random cross-encoder (benchmarks)', dims: { ...miniLm, labels: 1 }, seed: 7004 },
};
