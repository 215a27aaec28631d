// The text-generation task: prompts (text, tokens or a chat) -> sequences on the model's
// continuous-batching scheduler -> a stream of text deltas and finishes per choice.
import type { DecoderSession } from '../backends/backend.ts';
import { createScheduler, type Scheduler } from '../batching/scheduler.ts';
import { createChatTemplate, type ChatTemplate } from '../chat-template.ts';
import type { ModelEntry } from '../config.ts';
import { mapCooperatively } from '../cooperative.ts';
import { RuntimeError } from '../errors.ts';
import { createEventStream } from '../generation/event-stream.ts';
import { grammarConstraint, type GrammarEngine } from '../generation/grammar/grammar.ts';
import { createXgrammarEngine } from '../generation/grammar/xgrammar.ts';
import { createOutputChannels, thinkMarkersOf, type ChannelDelta, type OutputChannels } from '../generation/output-channels.ts';
import { DEFAULT_SAMPLING, type SamplingParams } from '../generation/logits-processors.ts';
import { choiceSeed } from '../generation/rng.ts';
import type { TokenLogprob } from '../generation/sampler.ts';
import { createSequence, type Sequence, type StepOutput } from '../generation/sequence.ts';
import type { ModelManifest } from '../manifest.ts';
import type { Tokenizer } from '../tokenizer.ts';
import type { GeneratePrompt, GeneratedToken, GenerateRequest, Generation, GenerationEvent, TokenAlternative, ToolDefinition } from '../types.ts';
import { planOutput } from './output-plan.ts';
import { createBeamSearch, type Hypothesis } from '../generation/beam-search.ts';
import { createBeamScorer } from '../generation/beam-scores.ts';

/** What beam search does not combine with: each a 400 naming the parameter. */
function refuseWithBeams(request: GenerateRequest): void {
  const refuse = (param: string, what: string) => {
    throw new RuntimeError('invalid_request', `Beam search does not ${what}.`, { param });
  };
  if (request.bestOf !== undefined && request.bestOf !== request.beamSearch?.width) refuse('bestOf', 'take best_of apart from its width');
  if (request.logprobs !== undefined) refuse('logprobs', 'return log-probabilities');
  if (request.echo) refuse('echo', 'echo the prompt');
  if ((request.stop ?? []).length > 0) refuse('stop', 'apply stop strings');
  if (request.tools && request.tools.length > 0 && request.toolChoice !== 'none') refuse('tools', 'call tools');
  if (request.outputFormat && request.outputFormat.type !== 'text') refuse('outputFormat', 'enforce an output format');
  if (request.promptLookup?.tokens) refuse('promptLookup', 'speculate');
}

export interface Generator {
  readonly scheduler: Scheduler;
  /** Tokenizes (cooperatively, bounded by the context) and submits; rejects before any output. */
  generate(request: GenerateRequest): Promise<Generation>;
}

function idsOf(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  return Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : [];
}

/** Sampling defaults from generation_config.json (requests override them); do_sample false is greedy. */
function generationDefaults(config: Record<string, unknown>): Partial<SamplingParams> & { maxTokens?: number } {
  const num = (key: string) => (typeof config[key] === 'number' ? (config[key] as number) : undefined);
  const defaults: Partial<SamplingParams> & { maxTokens?: number } = {};
  const set = <K extends keyof typeof defaults>(key: K, value: (typeof defaults)[K] | undefined) => {
    if (value !== undefined) defaults[key] = value;
  };
  set('temperature', config.do_sample === false ? 0 : num('temperature'));
  set('topP', num('top_p'));
  set('topK', num('top_k'));
  set('minP', num('min_p'));
  set('repetitionPenalty', num('repetition_penalty'));
  set('maxTokens', num('max_new_tokens'));
  return defaults;
}

/** Prompt lookup's n-gram size when neither the request nor the config names one. */
const DEFAULT_MAX_NGRAM = 3;

export function createGenerator(entry: ModelEntry, manifest: ModelManifest, session: DecoderSession, tokenizer: Tokenizer): Generator {
  const defaults = generationDefaults(manifest.generationConfig);
  const eosIds = new Set([...idsOf(manifest.generationConfig.eos_token_id), ...idsOf(manifest.hfConfig.eos_token_id)]);
  const template: ChatTemplate | undefined = manifest.chatTemplate ? createChatTemplate(manifest.chatTemplate, manifest.tokenizerConfig) : undefined;
  const scheduler = createScheduler(session, {
    maxRunning: entry.max_running_sequences,
    maxBatchTokens: entry.max_batch_tokens,
    maxQueuedSequences: entry.max_queued_sequences,
    maxKvTokens: entry.max_kv_tokens,
    maxStepTokens: entry.max_step_tokens,
    prefixCacheTokens: entry.prefix_cache_tokens,
    contextLength: manifest.maxLength,
  });
  let engine: GrammarEngine | undefined;
  const grammarEngine = () => (engine ??= createXgrammarEngine(tokenizer.encodedVocabulary(), [...eosIds]));
  const decode = (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });
  const textOf = (id: number) => tokenizer.decode([id], { skipSpecialTokens: false });
  const alternative = ({ token, logprob }: TokenLogprob): TokenAlternative => {
    const text = textOf(token);
    return { token: text, bytes: [...Buffer.from(text, 'utf8')], logprob };
  };
  const describe = (scored: { token: number; logprob: number; top: TokenLogprob[] }): GeneratedToken => ({
    ...alternative(scored),
    top: scored.top.map(alternative),
  });

  const tooLong = (what: string) =>
    new RuntimeError('context_length_exceeded', `This model's maximum context length is ${manifest.maxLength} tokens; the prompt has ${what}. Shorten the prompt.`, {
      param: 'prompt',
    });

  /**
   * A prompt's ids. Text is tokenized only as far as the context reaches: a prompt longer than the
   * context is refused after about maxLength tokens of work, whatever its size.
   */
  function promptIds(prompt: GeneratePrompt, tools: readonly ToolDefinition[] | undefined): number[] {
    if ('tokens' in prompt) {
      const bad = prompt.tokens.find((id) => id >= tokenizer.vocabSize);
      if (bad !== undefined) throw new RuntimeError('invalid_request', `Token id ${bad} is outside the vocabulary (size ${tokenizer.vocabSize}).`, { param: 'prompt' });
      if (prompt.tokens.length >= manifest.maxLength) throw tooLong(`${prompt.tokens.length} tokens`);
      return prompt.tokens;
    }
    let encoded: { ids: number[]; truncated: boolean };
    if ('text' in prompt) encoded = tokenizer.encodeSingle(prompt.text, manifest.maxLength);
    else if (!template) {
      throw new RuntimeError('invalid_request', `The model '${entry.name}' has no chat template; use /v3/completions with a prompt.`, { param: 'messages' });
    } else {
      // The template writes the special tokens itself (as transformers' apply_chat_template).
      encoded = tokenizer.encodePrefix(template(prompt.messages, { tools }), manifest.maxLength);
    }
    if (encoded.truncated) throw tooLong(`more than ${manifest.maxLength} tokens`);
    return encoded.ids;
  }

  function samplingOf(request: GenerateRequest): SamplingParams {
    const bias = new Map<number, number>();
    for (const [key, value] of Object.entries(request.logitBias ?? {})) {
      const id = Number(key);
      if (!Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize) {
        throw new RuntimeError('invalid_request', `logit_bias token id ${key} is outside the vocabulary (size ${tokenizer.vocabSize}).`, { param: 'logitBias' });
      }
      bias.set(id, value);
    }
    return {
      temperature: request.temperature ?? defaults.temperature ?? DEFAULT_SAMPLING.temperature,
      topP: request.topP ?? defaults.topP ?? DEFAULT_SAMPLING.topP,
      topK: request.topK ?? defaults.topK ?? DEFAULT_SAMPLING.topK,
      minP: request.minP ?? defaults.minP ?? DEFAULT_SAMPLING.minP,
      repetitionPenalty: request.repetitionPenalty ?? defaults.repetitionPenalty ?? DEFAULT_SAMPLING.repetitionPenalty,
      frequencyPenalty: request.frequencyPenalty ?? DEFAULT_SAMPLING.frequencyPenalty,
      presencePenalty: request.presencePenalty ?? DEFAULT_SAMPLING.presencePenalty,
      logitBias: bias,
    };
  }

  /**
   * Beam search, one scheduler submission per prompt: the n best hypotheses of each become its
   * choices when the search ends (nothing streams before: OVMS refuses streamed beam search too).
   */
  function generateBeams(request: GenerateRequest, options: NonNullable<GenerateRequest['beamSearch']>, prompts: number[][], sampling: SamplingParams, maxTokens: number | undefined): Generation {
    refuseWithBeams(request);
    const stream = createEventStream<GenerationEvent>();
    const results: Hypothesis[][] = prompts.map(() => []);
    const cached = prompts.map(() => 0);
    let pending = prompts.length;
    prompts.forEach((ids, p) => {
      const limit = Math.min(maxTokens ?? Infinity, manifest.maxLength - ids.length);
      const holder = createSequence({ prompt: ids, maxTokens: limit, sampling, seed: 0, stop: [], ignoreEos: false, eosIds, logprobs: undefined, decode });
      const search = createBeamSearch({ width: options.width, returned: request.n, lengthPenalty: options.lengthPenalty, earlyStopping: options.earlyStopping, maxTokens: limit, eosIds: request.ignoreEos ? new Set() : eosIds });
      scheduler.submit({
        sequences: [holder],
        signal: request.signal,
        beam: { search, width: options.width, score: createBeamScorer(sampling, ids), onResults: (h) => (results[p] = h) },
        onStep: () => {},
        onPrefilled: (_, tokens) => (cached[p] = tokens),
        onDone() {
          results[p]?.forEach((h, i) => {
            const index = p * request.n + i;
            const text = decode(h.finish === 'stop' ? h.tokens.slice(0, -1) : h.tokens);
            stream.push({ type: 'delta', index, text, tokenIds: h.tokens });
            stream.push({ type: 'finish', index, reason: h.finish });
          });
          if (--pending === 0) stream.end();
        },
        onError: (err) => stream.fail(err),
      });
    });
    return {
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
      promptTokens: prompts.reduce((n, ids) => n + ids.length, 0),
      completionTokens: () => results.reduce((n, hs) => n + hs.reduce((m, h) => m + h.tokens.length, 0), 0),
      cachedTokens: () => cached.reduce((a, b) => a + b, 0),
      choices: prompts.length * request.n,
    };
  }

  return {
    scheduler,
    async generate(request) {
      const perPrompt = Math.max(request.n, request.bestOf ?? request.n);
      // Admission counts work: every prompt x candidate is a sequence. Decided before tokenizing.
      const asked = request.prompts.length * perPrompt;
      if (asked > entry.max_sequences_per_request) {
        throw new RuntimeError(
          'invalid_request',
          `This request asks for ${asked} sequences (${request.prompts.length} prompt(s) x ${perPrompt}); this model takes at most ${entry.max_sequences_per_request} per request.`,
          { param: request.bestOf !== undefined && request.bestOf > request.n ? 'bestOf' : 'n' },
        );
      }
      const sampling = samplingOf(request);
      const plan = await planOutput(request, { chatTemplate: manifest.chatTemplate, toolParser: entry.tool_parser, engine: grammarEngine });
      const prompts = await mapCooperatively(request.prompts, (p) => promptIds(p, plan.tools), request.signal);
      const maxTokens = request.maxTokens ?? defaults.maxTokens;
      for (const ids of prompts) {
        if (ids.length === 0) throw new RuntimeError('invalid_request', 'The prompt is empty.', { param: 'prompt' });
        const room = manifest.maxLength - ids.length;
        if (room <= 0 || (request.maxTokens !== undefined && request.maxTokens > room)) {
          const asked = request.maxTokens === undefined ? '' : ` plus ${request.maxTokens} completion tokens`;
          throw new RuntimeError(
            'context_length_exceeded',
            `This model's maximum context length is ${manifest.maxLength} tokens; the prompt has ${ids.length} tokens${asked}. Shorten the prompt or ask for fewer completion tokens.`,
            { param: request.maxTokens === undefined ? 'prompt' : 'maxTokens' },
          );
        }
      }
      if (request.beamSearch) return generateBeams(request, request.beamSearch, prompts, sampling, maxTokens);
      // best_of ranks candidates by their log-probability, so it needs them even when not asked.
      const ranking = perPrompt > request.n;
      // Prompt lookup, as asked or as the model is configured; not under a grammar, whose mask is per step.
      const lookupTokens = request.promptLookup?.tokens ?? entry.num_assistant_tokens ?? 0;
      const lookup = lookupTokens > 0 && !plan.grammar ? { count: lookupTokens, maxNgram: request.promptLookup?.maxNgram ?? entry.max_ngram_size ?? DEFAULT_MAX_NGRAM } : undefined;
      const matchers = plan.grammar ? await Promise.all(prompts.flatMap(() => Array.from({ length: perPrompt }, () => (plan.grammar as NonNullable<typeof plan.grammar>).matcher()))) : [];
      const sequences: Sequence[] = prompts.flatMap((ids, p) =>
        Array.from({ length: perPrompt }, (_, j) =>
          createSequence({
            ...(plan.grammar ? { constraint: grammarConstraint(matchers[p * perPrompt + j] as (typeof matchers)[number]) } : {}),
            prompt: ids,
            maxTokens: Math.min(maxTokens ?? Infinity, manifest.maxLength - ids.length),
            sampling,
            seed: choiceSeed(request.seed, p * perPrompt + j),
            stop: request.stop ?? [],
            includeStopString: request.includeStopString ?? false,
            ignoreEos: request.ignoreEos ?? false,
            eosIds,
            logprobs: request.logprobs ?? (ranking ? 0 : undefined),
            decode,
            ...(lookup ? { lookup } : {}),
          }),
        ),
      );
      // Chat output is split into reasoning, content and tool calls where the template has them.
      const channels: Array<OutputChannels | undefined> = prompts.flatMap((ids, p) => {
        const think = 'messages' in (request.prompts[p] as GeneratePrompt) ? thinkMarkersOf(manifest.chatTemplate, tokenizer.decode(ids.slice(-8), { skipSpecialTokens: false })) : undefined;
        return Array.from({ length: perPrompt }, () => (think || plan.parser ? createOutputChannels({ think, tools: plan.parser }) : undefined));
      });
      const callsMade = sequences.map(() => 0);
      const cached = sequences.map(() => 0);
      const stream = createEventStream<GenerationEvent>();
      // Candidate i of prompt p is choice p * n + i once best_of has picked (else i < n directly).
      const choiceOf = (seq: number) => Math.floor(seq / perPrompt) * request.n + (seq % perPrompt);
      const held: GenerationEvent[][] = sequences.map(() => []);
      const emit = (seq: number, event: GenerationEvent) => (ranking ? held[seq]?.push(event) : stream.push(event));

      if (request.echo) {
        prompts.forEach((ids, p) => {
          const text = tokenizer.decode(ids, { skipSpecialTokens: false });
          for (let j = 0; j < perPrompt; j++) emit(p * perPrompt + j, { type: 'delta', index: choiceOf(p * perPrompt + j), text, tokenIds: [] });
        });
      }
      scheduler.submit({
        sequences,
        signal: request.signal,
        ...(request.echo && request.logprobs !== undefined
          ? {
              promptLogprobs: {
                top: request.logprobs,
                onScores: (seq: number, scores: Array<{ logprob: number; top: TokenLogprob[] }>) => {
                  const ids = (sequences[seq] as Sequence).prompt;
                  const first: GeneratedToken = { ...alternative({ token: ids[0] as number, logprob: NaN }), top: [] };
                  const rest = scores.map((s, t) => describe({ token: ids[t + 1] as number, ...s }));
                  emit(seq, { type: 'delta', index: choiceOf(seq), text: '', tokenIds: [], tokens: [first, ...rest] });
                },
              },
            }
          : {}),
        onPrefilled: (seq: number, tokens: number) => (cached[seq] = tokens),
        onStep(seq: number, out: StepOutput) {
          const tokens = out.logprob && request.logprobs !== undefined ? [describe({ token: out.token, ...out.logprob })] : undefined;
          const channel = channels[seq];
          const split: ChannelDelta = channel ? joinDeltas(channel.push(out.text), out.finish ? channel.flush() : undefined) : { content: out.text, reasoning: '', calls: [] };
          const made = callsMade[seq] ?? 0;
          const toolCalls = split.calls.map((call, i) => ({ ...call, callIndex: made + i }));
          callsMade[seq] = made + toolCalls.length;
          emit(seq, {
            type: 'delta',
            index: choiceOf(seq),
            text: split.content,
            tokenIds: [out.token],
            ...(tokens ? { tokens } : {}),
            ...(split.reasoning !== '' ? { reasoning: split.reasoning } : {}),
            ...(toolCalls.length > 0 ? { toolCalls } : {}),
          });
          if (out.finish) {
            const reason = out.finish === 'stop' && (callsMade[seq] as number) > 0 ? 'tool_calls' : out.finish;
            emit(seq, { type: 'finish', index: choiceOf(seq), reason, ...(out.stopString === undefined ? {} : { stopSequence: out.stopString }) });
          }
        },
        onDone() {
          if (ranking) {
            prompts.forEach((_, p) => {
              const candidates = Array.from({ length: perPrompt }, (_, j) => p * perPrompt + j);
              candidates.sort((a, b) => (sequences[b] as Sequence).cumulativeLogprob - (sequences[a] as Sequence).cumulativeLogprob);
              candidates.slice(0, request.n).forEach((seq, rank) => {
                for (const event of held[seq] ?? []) stream.push({ ...event, index: p * request.n + rank });
              });
            });
          }
          stream.end();
        },
        onError: (err) => stream.fail(err),
      });
      return {
        [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
        promptTokens: prompts.reduce((n, ids) => n + ids.length, 0),
        completionTokens: () => sequences.reduce((n, s) => n + s.generated.length, 0),
        // Each prompt once: the most any of its sequences restored.
        cachedTokens: () => prompts.reduce((n, _, p) => n + Math.max(...cached.slice(p * perPrompt, (p + 1) * perPrompt)), 0),
        choices: prompts.length * request.n,
      };
    },
  };
}

function joinDeltas(a: ChannelDelta, b: ChannelDelta | undefined): ChannelDelta {
  return b ? { content: a.content + b.content, reasoning: a.reasoning + b.reasoning, calls: [...a.calls, ...b.calls] } : a;
}
