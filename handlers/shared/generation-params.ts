// Request fields chat and completions share (sampling, stop, streaming options, vLLM-style
// extensions) and their translation to the runtime's GenerateRequest fields.
import * as v from 'valibot';
import type { GenerateRequest, Generation } from '../../runtime/index.ts';
import { RuntimeError } from '../../runtime/index.ts';
import { finiteAbove, finiteBetween, integerBetween, tokenIdMap, wireObject } from './schemas.ts';

/**
 * Every numeric field is range-checked and finite here, at the edge (vLLM's bounds where OpenAI
 * names none): nothing reaching the runtime can overflow a logit or loop a sampler.
 */
export const samplingFields = {
  model: v.string(),
  temperature: v.nullish(finiteBetween(0, 2)),
  top_p: v.nullish(finiteBetween(0, 1)),
  n: v.nullish(integerBetween(1, 128)),
  stream: v.nullish(v.boolean()),
  stream_options: v.nullish(wireObject({ include_usage: v.optional(v.boolean()) })),
  stop: v.nullish(v.union([v.string(), v.pipe(v.array(v.string()), v.maxLength(4, 'at most 4 stop sequences'))])),
  presence_penalty: v.nullish(finiteBetween(-2, 2)),
  frequency_penalty: v.nullish(finiteBetween(-2, 2)),
  logit_bias: v.nullish(tokenIdMap(-100, 100)),
  // OpenAI's seed is an int64; any integer in that range is accepted (it is hashed to 32 bits).
  seed: v.nullish(integerBetween(-(2 ** 63), 2 ** 63)),
  user: v.nullish(v.string()),
  // Extensions vLLM and llama.cpp users send, with vLLM's ranges.
  top_k: v.nullish(integerBetween(-1)),
  min_p: v.nullish(finiteBetween(0, 1)),
  repetition_penalty: v.nullish(finiteAbove(0, 2)),
  ignore_eos: v.nullish(v.boolean()),
  // OVMS's prompt-lookup speculative decoding.
  num_assistant_tokens: v.nullish(integerBetween(0, 32)),
  max_ngram_size: v.nullish(integerBetween(1, 16)),
  // best_of: sampled candidates of which the n likeliest return; with OVMS's use_beam_search, the beam width.
  best_of: v.nullish(integerBetween(1, 20)),
  use_beam_search: v.nullish(v.boolean()),
  length_penalty: v.nullish(finiteBetween(-10, 10)),
  early_stopping: v.nullish(v.boolean()),
  include_stop_str_in_output: v.nullish(v.boolean()),
};

/** Wire names of the shared fields the runtime names otherwise, for its errors' `param`. */
export const SHARED_WIRE_PARAMS = { bestOf: 'best_of', promptLookup: 'num_assistant_tokens', logitBias: 'logit_bias' } as const;

/**
 * OpenAI parameters this server knows but does not implement: each gets a 400 naming it
 * (accepting and ignoring them would silently change what the caller asked for).
 */
export const UNSUPPORTED = [
  'functions',
  'function_call',
  'audio',
  'modalities',
  'prediction',
  'reasoning_effort',
  'web_search_options',
  'suffix',
] as const;

/** Chat's tool fields: a completions request naming them gets a 400 naming the field. */
export const TOOL_FIELDS = ['tools', 'tool_choice', 'parallel_tool_calls'] as const;

const optionalUnknown = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, v.optional(v.unknown())])) as Record<K, v.OptionalSchema<v.UnknownSchema, undefined>>;
export const unsupportedFields = optionalUnknown(UNSUPPORTED);
export const toolFields = optionalUnknown(TOOL_FIELDS);

export function rejectUnsupported(body: Record<string, unknown>, also: readonly string[] = []): void {
  for (const key of [...UNSUPPORTED, ...also]) {
    if (body[key] !== undefined && body[key] !== null) {
      throw new RuntimeError('unsupported', `'${key}' is not supported by this server.`, { param: key });
    }
  }
}

type SamplingBody = { [K in keyof typeof samplingFields]?: v.InferOutput<(typeof samplingFields)[K]> };

/** The GenerateRequest fields both routes fill the same way. */
export function samplingFromWire(body: SamplingBody): Omit<GenerateRequest, 'model' | 'prompts' | 'signal'> {
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const n = body.n ?? 1;
  if (body.best_of != null) {
    if (body.best_of < n) throw new RuntimeError('invalid_request', `best_of (${body.best_of}) must be at least n (${n}).`, { param: 'best_of' });
    if (body.stream && body.best_of > n && !body.use_beam_search) throw new RuntimeError('invalid_request', 'best_of results cannot be streamed.', { param: 'best_of' });
  }
  const beams = body.use_beam_search === true;
  // OVMS: beam search answers whole; its parameters mean nothing without it.
  if (beams && body.stream) throw new RuntimeError('invalid_request', 'Beam search results cannot be streamed.', { param: 'use_beam_search' });
  for (const key of ['length_penalty', 'early_stopping'] as const) {
    if (body[key] != null && !beams) throw new RuntimeError('invalid_request', `'${key}' applies to beam search only (use_beam_search: true).`, { param: key });
  }
  return {
    n,
    ...(body.best_of != null ? { bestOf: body.best_of } : {}),
    ...(beams ? { beamSearch: { width: body.best_of ?? n, lengthPenalty: body.length_penalty ?? 1, earlyStopping: body.early_stopping ?? false } } : {}),
    ...(body.include_stop_str_in_output ? { includeStopString: true } : {}),
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    topK: body.top_k !== undefined && body.top_k !== null && body.top_k > 0 ? body.top_k : undefined,
    minP: body.min_p ?? undefined,
    repetitionPenalty: body.repetition_penalty ?? undefined,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    presencePenalty: body.presence_penalty ?? undefined,
    logitBias: body.logit_bias ? Object.fromEntries(Object.entries(body.logit_bias).map(([k, b]) => [Number(k), b])) : undefined,
    seed: body.seed ?? undefined,
    stop,
    ignoreEos: body.ignore_eos ?? false,
    ...(body.num_assistant_tokens != null || body.max_ngram_size != null
      ? { promptLookup: { ...(body.num_assistant_tokens != null ? { tokens: body.num_assistant_tokens } : {}), ...(body.max_ngram_size != null ? { maxNgram: body.max_ngram_size } : {}) } }
      : {}),
  };
}

export const usageToWire = (promptTokens: number, completionTokens: number, cachedTokens: number) => ({
  prompt_tokens: promptTokens,
  completion_tokens: completionTokens,
  total_tokens: promptTokens + completionTokens,
  prompt_tokens_details: { cached_tokens: cachedTokens },
});

/** A generation's usage as chat and completions report it. */
export const usageOf = (generation: Generation) => usageToWire(generation.promptTokens, generation.completionTokens(), generation.cachedTokens());

export const SYSTEM_FINGERPRINT = 'fp_ovserve';

/** OpenAI reports an impossible token's log-probability as -9999 (JSON has no -Infinity). */
export const wireLogprob = (logprob: number) => (logprob === -Infinity ? -9999 : logprob);
