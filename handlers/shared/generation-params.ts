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
};

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
  return {
    n: body.n ?? 1,
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
