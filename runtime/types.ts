// Neutral request and result types shared by the runtime and its callers (camelCase, no wire names).
import type { Tensor, TensorInfo } from './backends/backend.ts';
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

/** A function call a model made (in a conversation, or in its output). */
export interface ToolCall {
  /** The caller's id for it (conversation history); output calls get theirs at the edge. */
  id?: string;
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
}

export interface ChatMessage {
  role: string;
  content: string;
  /** A participant name; templates that know it use it. */
  name?: string;
  /** Assistant turns: the calls it made. */
  toolCalls?: ToolCall[];
  /** Tool turns: the call this is the result of. */
  toolCallId?: string;
  /** Assistant turns: its reasoning, for templates that render it. */
  reasoning?: string;
}

/** A function the model may call. */
export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON schema of the arguments object. */
  parameters: boolean | Record<string, unknown>;
}

/** none: no calls; auto: the model decides; required: one or more calls; { name }: a call of that tool. */
export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };

/** What the output text must be: free text, any JSON value, or JSON valid against a schema. */
export type OutputFormat = { type: 'text' } | { type: 'json' } | { type: 'json_schema'; schema: boolean | Record<string, unknown> };

/** A completion prompt (text or token ids) or a conversation for the chat template. */
export type GeneratePrompt = { text: string } | { tokens: number[] } | { messages: ChatMessage[] };

export interface GenerateRequest {
  model: string;
  /** Several for completions with a prompt list; each gets `n` choices. */
  prompts: GeneratePrompt[];
  n: number;
  /** Candidates per prompt of which the `n` most likely are returned (not streamable). */
  bestOf?: number;
  /** Defaults to what fits in the model's context. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** Token id -> bias added to its logit. */
  logitBias?: Record<number, number>;
  seed?: number;
  stop?: string[];
  /** The stop string that ended a choice stays in its text. */
  includeStopString?: boolean;
  ignoreEos?: boolean;
  /** Report the chosen token's log-probability and this many alternatives. */
  logprobs?: number;
  /** Completions: put the prompt in front of the output. */
  echo?: boolean;
  /** Chat: functions the model may call (rendered by the chat template; calls parsed from the output). */
  tools?: ToolDefinition[];
  /** Defaults to auto when tools are given. */
  toolChoice?: ToolChoice;
  /** More than one call in one answer (default true). */
  parallelToolCalls?: boolean;
  /** Enforced on the output by a grammar (default text). */
  outputFormat?: OutputFormat;
  /**
   * Prompt-lookup speculative decoding (OVMS's num_assistant_tokens and max_ngram_size): tokens
   * proposed per step from the context; 0 turns the model's default off. Output is unchanged.
   */
  promptLookup?: { tokens?: number; maxNgram?: number };
  /**
   * Beam search as OVMS defines it (use_beam_search): `width` beams (best_of), the `n` best
   * hypotheses returned; score = sum of log-probabilities / length ** lengthPenalty. Deterministic.
   */
  beamSearch?: { width: number; lengthPenalty: number; earlyStopping: boolean };
  signal?: AbortSignal;
}

export interface TokenAlternative {
  token: string;
  bytes: number[];
  logprob: number;
}

export interface GeneratedToken extends TokenAlternative {
  top: TokenAlternative[];
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

/**
 * `text` is content; `reasoning` is text between the template's think markers; `toolCalls` are
 * calls completed in this delta, numbered per choice from 0 by `callIndex`.
 */
export type GenerationEvent =
  | {
      type: 'delta';
      index: number;
      text: string;
      tokenIds: number[];
      tokens?: GeneratedToken[];
      reasoning?: string;
      toolCalls?: Array<ToolCall & { callIndex: number }>;
    }
  | { type: 'finish'; index: number; reason: FinishReason; stopSequence?: string };

export interface Generation extends AsyncIterable<GenerationEvent> {
  /** Prompt tokens, each prompt counted once. */
  readonly promptTokens: number;
  /** Tokens generated so far over every choice. */
  completionTokens(): number;
  /** Prompt tokens whose KV came from the prefix cache (each prompt counted once; known once prefilled). */
  cachedTokens(): number;
  /** Choices in total: prompts x n. */
  readonly choices: number;
}

/** Text, or a conversation rendered by the model's chat template, to token ids. */
export interface TokenizeRequest {
  model: string;
  input: { text: string } | { messages: ChatMessage[] };
  /** The model's own special tokens around plain text (default true; a chat template writes its own). */
  addSpecialTokens?: boolean;
  /** Chat only: open the assistant's turn (default true). */
  addGenerationPrompt?: boolean;
  /** Chat only: tools the template renders into the prompt. */
  tools?: ToolDefinition[];
}

export interface TokenizeResult {
  ids: number[];
  /** The model's context length. */
  maxLength: number;
}

export interface DetokenizeRequest {
  model: string;
  ids: number[];
}

/** Any model run as it is: named tensors in, named tensors out (the `tensor` task). */
export interface InferRequest {
  model: string;
  /** Every graph input by name; dims must match the graph's (dynamic ones free). */
  inputs: Record<string, Tensor>;
  /** Which outputs to return; all when omitted. */
  outputs?: string[];
  signal?: AbortSignal;
}

export interface InferResult {
  model: string;
  outputs: Record<string, Tensor>;
}

/** What a loaded model takes and gives, from its graph (symbolic dims are strings). */
export interface ModelMetadata {
  name: string;
  task: ModelTask;
  engine: 'onnxruntime' | 'openvino';
  inputs: readonly TensorInfo[];
  outputs: readonly TensorInfo[];
}

/** Images from a prompt (text-to-image), or from an image (edits: image-to-image, or inpainting with a mask). */
export interface ImageRequest {
  model: string;
  prompt: string;
  /** What the guidance steers away from (classifier-free guidance's unconditional prompt); default ''. */
  negativePrompt?: string;
  /** Images to make; each is its own seeded sample. */
  n: number;
  /** Pixels; default the model's native size. */
  width?: number;
  height?: number;
  steps?: number;
  /** Classifier-free guidance; 1 or below runs the prompt alone. */
  guidanceScale?: number;
  seed?: number;
  /** Edits: the source image (PNG bytes) and optional mask (PNG; transparent = repaint). */
  image?: Uint8Array;
  mask?: Uint8Array;
  /** Edits: how much of the schedule runs on the source (0 < strength <= 1). */
  strength?: number;
  signal?: AbortSignal;
}

export interface ImageResult {
  model: string;
  /** PNG files, in request order. */
  images: Uint8Array[];
  width: number;
  height: number;
  /** The prompt's tokens (and the negative prompt's, where guidance ran). */
  promptTokens: number;
}
