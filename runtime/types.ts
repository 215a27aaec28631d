// Neutral request and result types shared by the runtime and its callers (camelCase, no wire names).
import type { ModelTask } from './config.ts';

export interface ModelInfo {
  name: string;
  task: ModelTask;
  /** Unix seconds when the model finished loading. */
  created: number;
  engine: 'onnxruntime' | 'openvino';
  /** Longest input in tokens. */
  maxLength: number;
}

export interface EmbedRequest {
  model: string;
  /** Texts, or token-id sequences used as given (no special tokens added). */
  inputs: Array<string | number[]>;
  /** Output size; smaller than native only for Matryoshka models. */
  dimensions?: number;
  signal?: AbortSignal;
}

export interface EmbedResult {
  model: string;
  embeddings: Float32Array[];
  promptTokens: number;
}

export interface RerankRequest {
  model: string;
  query: string;
  documents: string[];
  /** How many results to return, best first; defaults to all. */
  topN?: number;
  /** Documents longer than this many tokens are cut. */
  maxTokensPerDoc?: number;
  signal?: AbortSignal;
}

export interface RerankResult {
  model: string;
  /** Best first; `index` is the document's position in the request. */
  results: Array<{ index: number; score: number }>;
  promptTokens: number;
}
