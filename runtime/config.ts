// The model repository config (models/config.json): schema, defaults and loading.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as v from 'valibot';
import { RuntimeError } from './errors.ts';

const positiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));

const ModelEntrySchema = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1), v.regex(/^[\w.:/-]+$/, 'letters, digits and . _ - : / only')),
  task: v.picklist(['embeddings', 'rerank', 'text-generation', 'tensor', 'text-to-image']),
  path: v.pipe(v.string(), v.minLength(1)),
  file: v.optional(v.string()),
  backend: v.optional(v.picklist(['auto', 'onnxruntime', 'openvino']), 'auto'),
  /** Fixture preset to build into `path` when the folder has no model yet (see models/). */
  build: v.optional(v.string()),
  /**
   * Where the folder comes from, `hf:org/name[@revision]` (a Hugging Face model repo): `ovserve serve`
   * pulls it into `path` first when the folder is missing or incomplete. The runtime never downloads.
   */
  source: v.optional(v.pipe(v.string(), v.regex(/^hf:[\w.-]+(\/[\w.-]+)?(@[^\s@]+)?$/, 'hf:org/name or hf:org/name@revision'))),
  max_batch_requests: v.optional(positiveInt, 32),
  max_batch_tokens: v.optional(positiveInt, 16384),
  max_wait_ms: v.optional(v.pipe(v.number(), v.minValue(0)), 2),
  max_queued_requests: v.optional(positiveInt, 512),
  /** Encoders: most tokens waiting over all queued requests; a request alone above it is refused. */
  max_queued_tokens: v.optional(positiveInt, 300_000),
  max_running_sequences: v.optional(positiveInt, 8),
  /** Generation: most sequences (prompts x n x best_of) waiting to start, beyond the free slots. */
  max_queued_sequences: v.optional(positiveInt, 256),
  /**
   * Generation: KV budget in positions (running rows x the longest row): admission stays within
   * it and growth beyond it preempts the newest sequences (recomputed later); a sequence whose
   * prompt + max_tokens alone exceed it is refused. Unset: max_running_sequences x context.
   */
  max_kv_tokens: v.optional(positiveInt),
  /**
   * Generation: most tokens one engine step runs (decode tokens + prompt chunks): a long prompt is
   * prefilled a chunk per step, so running streams never stall for a whole prefill. Fused decoders
   * only (others prefill whole). 64 from bench:scheduling on 2 cores: a decode run carrying a
   * chunk then takes 2.4-3.0x a plain decode run (96: 3.5-4.6x, 160: 4.7-6x), with the
   * newcomer's TTFT at 1.0-1.7x its idle TTFT.
   */
  max_step_tokens: v.optional(v.pipe(positiveInt, v.minValue(16)), 64),
  /** Generation: prompt positions whose KV the prefix cache keeps (LRU, blocks of 16); 0 turns it off. Fused decoders only. */
  prefix_cache_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 4096),
  /**
   * Generation: prompt-lookup speculative decoding by default for this model (OVMS's names):
   * tokens proposed per step from the context's last n-gram (n <= max_ngram_size); a request's
   * own values override. Unset or 0: off unless a request asks.
   */
  num_assistant_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(32))),
  max_ngram_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16))),
  /** Generation: most sequences one request may ask for (prompts x max(n, best_of)). */
  max_sequences_per_request: v.optional(positiveInt, 128),
  threads: v.optional(positiveInt),
  truncate: v.optional(v.boolean(), true),
  pooling: v.optional(v.picklist(['mean', 'cls', 'last'])),
  normalize: v.optional(v.boolean()),
  matryoshka: v.optional(v.boolean(), false),
  /**
   * onnxruntime: rewrite MatMul weights at load (cached beside the model, keyed by its hash): int8
   * (per-column, MatMulInteger) or q4 (MatMulNBits, 4-bit blocks of 32; a tied LM head in int8).
   */
  quantize: v.optional(v.picklist(['none', 'int8', 'q4']), 'none'),
  /**
   * Text generation on onnxruntime: rebuild a Llama-family decoder in onnxruntime's fused form
   * (GroupQueryAttention, a KV cache the runtime owns) at load, cached. false serves the graph as
   * exported. Models the fusion does not cover are served as exported, with the reason logged.
   */
  fuse: v.optional(v.boolean(), true),
  /**
   * Text generation: the tool-call syntax the model writes (hermes, mistral, llama3_json); unset:
   * chosen from the chat template. A model with neither answers `tools` with a 400.
   */
  tool_parser: v.optional(v.picklist(['hermes', 'mistral', 'llama3_json'])),
  /** Text to image: most images denoising together (a guided image is two UNet rows). */
  max_batch_images: v.optional(positiveInt, 4),
  /** Text to image: most images one request may ask for (`n`). */
  max_images_per_request: v.optional(positiveInt, 4),
  /** Text to image: longest image side in pixels, for generated and uploaded images. */
  max_image_side: v.optional(positiveInt, 1024),
  /** Text to image: denoising steps when the request names none, and the most it may ask for. */
  default_steps: v.optional(positiveInt, 20),
  max_steps: v.optional(positiveInt, 150),
});

const ConfigSchema = v.strictObject({
  models: v.pipe(
    v.array(ModelEntrySchema),
    v.check((models) => new Set(models.map((m) => m.name)).size === models.length, 'model names must be unique'),
  ),
});

export type ModelEntry = v.InferOutput<typeof ModelEntrySchema>;
export type ModelTask = ModelEntry['task'];
export interface RepositoryConfig {
  models: ModelEntry[];
}

function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path = (issue.path ?? [])
    .map((p) => (typeof p.key === 'number' ? `[${p.key}]` : `.${String(p.key)}`))
    .join('')
    .replace(/^\./, '');
  return `${path || '(root)'}: ${issue.message}`;
}

/** Validates a parsed config object; `baseDir` resolves relative model paths. */
export function parseConfig(raw: unknown, baseDir: string): RepositoryConfig {
  const result = v.safeParse(ConfigSchema, raw);
  if (!result.success) {
    throw new RuntimeError('invalid_request', `invalid model config: ${result.issues.map(describeIssue).join('; ')}`);
  }
  return {
    models: result.output.models.map((m) => ({ ...m, path: isAbsolute(m.path) ? m.path : resolve(baseDir, m.path) })),
  };
}

export function loadConfigFile(file: string): RepositoryConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RuntimeError('invalid_request', `cannot read model config ${file}: ${(err as Error).message}`);
  }
  return parseConfig(raw, dirname(resolve(file)));
}
