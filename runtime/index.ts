// The runtime's public surface: the only module handlers and composition roots import.
export { createRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
export { RuntimeError, type RuntimeErrorKind } from './errors.ts';
export type { GenerationOutcome, RuntimeMetrics } from './metrics.ts';
export { loadConfigFile, parseConfig, type ModelEntry, type ModelTask, type RepositoryConfig } from './config.ts';
export type {
  ChatMessage,
  FinishReason,
  OutputFormat,
  ToolCall,
  ToolChoice,
  ToolDefinition,
  EmbedRequest,
  EmbedResult,
  GeneratePrompt,
  GenerateRequest,
  GeneratedToken,
  Generation,
  ImageRequest,
  ImageResult,
  GenerationEvent,
  DetokenizeRequest,
  InferRequest,
  TokenizeRequest,
  TokenizeResult,
  InferResult,
  ModelInfo,
  ModelMetadata,
  RerankRequest,
  RerankResult,
  TokenAlternative,
} from './types.ts';
export type { BatchStats } from './batching/encoder-queue.ts';
export type { SchedulerStats } from './batching/scheduler.ts';
export { allocate, TENSOR_TYPES, type Tensor, type TensorData, type TensorInfo, type TensorType } from './backends/backend.ts';
