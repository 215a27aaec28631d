// One sequence being generated: turns each step's logits into a token, text and a finish decision.
// The scheduler owns batching and the KV cache; this owns everything per sequence.
import { createDetokenizer } from './detokenizer.ts';
import type { LogitsConstraint } from './grammar/grammar.ts';
import { allMasked, buildPenalties, buildTruncation, isGreedy, sanitizeRow, type SamplingParams } from './logits-processors.ts';
import { proposeByLookup } from './prompt-lookup.ts';
import { createRng } from './rng.ts';
import { argmax, logprobsOf, sampleRow, type TokenLogprob } from './sampler.ts';
import { createStopMatcher } from './stop-strings.ts';

export type FinishReason = 'stop' | 'length';

export interface SequenceOptions {
  prompt: readonly number[];
  /** Most tokens to generate. */
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  stop: readonly string[];
  /** A matched stop string is part of the output text (vLLM's and OVMS's include_stop_str_in_output). */
  includeStopString?: boolean;
  ignoreEos: boolean;
  eosIds: ReadonlySet<number>;
  /** Alternatives per token to report; undefined reports no logprobs. */
  logprobs: number | undefined;
  decode: (ids: readonly number[]) => string;
  /**
   * A grammar the output must follow: applied after the penalties, before sampling. Its stop
   * tokens (the EOS ids) end the sequence even with ignoreEos, since the grammar allows them only
   * where the output is complete.
   */
  constraint?: LogitsConstraint;
  /**
   * Prompt-lookup speculation: each step may propose up to `count` next tokens found by the
   * context's last n-gram (n <= maxNgram), for the model to verify in one run.
   */
  lookup?: { maxNgram: number; count: number };
}

export interface StepOutput {
  token: number;
  /** Text that became final this step ('' while a character or a possible stop string is pending). */
  text: string;
  logprob: { logprob: number; top: TokenLogprob[] } | undefined;
  finish: FinishReason | undefined;
  /** The stop string that ended the sequence, when one did. */
  stopString?: string;
}

export interface Sequence {
  readonly prompt: readonly number[];
  /** Most tokens it may generate: with the prompt, the KV positions it can come to hold. */
  readonly maxTokens: number;
  readonly generated: readonly number[];
  /** Sum of the chosen tokens' log-probabilities (for best_of). */
  readonly cumulativeLogprob: number;
  readonly finished: FinishReason | undefined;
  /** Consumes the logits row for this sequence's next position (the row may be modified). */
  step(logits: Float32Array): StepOutput;
  /** Work for the next step that does not need its logits (a grammar mask), done while the model runs. */
  prepare(): void;
  /** Tokens it expects to generate next (prompt lookup), for verification in one run; often none. */
  propose(): number[];
}

export function createSequence(o: SequenceOptions): Sequence {
  // buildProcessors' list, split: penalties, then (when sampling) the truncations as one step.
  const penalties = buildPenalties(o.sampling);
  const truncate = isGreedy(o.sampling) ? undefined : buildTruncation(o.sampling);
  const rng = createRng(o.seed);
  const detokenizer = createDetokenizer((ids) => o.decode(ids));
  const stopMatcher = createStopMatcher(o.stop);
  const generated: number[] = [];
  const generatedCounts = new Map<number, number>();
  const seen = new Set<number>(o.prompt);
  let cumulativeLogprob = 0;
  let finished: FinishReason | undefined;

  /** At the end: text held back for a stop string that never completed is real output. */
  function flushPending(): string {
    const matched = stopMatcher.push(detokenizer.flush());
    return matched.stopped ? matched.emit + (o.includeStopString ? (matched.matched ?? '') : '') : matched.emit + stopMatcher.flush();
  }

  return {
    prompt: o.prompt,
    maxTokens: o.maxTokens,
    generated,
    get cumulativeLogprob() {
      return cumulativeLogprob;
    },
    get finished() {
      return finished;
    },
    prepare() {
      if (!finished) o.constraint?.prepare(generated);
    },
    propose() {
      const room = o.maxTokens - generated.length;
      if (!o.lookup || finished || room <= 1) return [];
      return proposeByLookup([...o.prompt, ...generated], o.lookup.maxNgram, Math.min(o.lookup.count, room - 1));
    },
    step(logits) {
      // The model's own most likely token: what is chosen if the processors leave no token at all.
      const fallback = sanitizeRow(logits);
      // Log-probabilities describe the model's own distribution, before any processor.
      const raw = o.logprobs !== undefined ? logits.slice() : undefined;
      const view = { generated, generatedCounts, seen };
      for (const process of penalties) process(logits, view);
      o.constraint?.apply(logits, view);
      // A row the processors mask whole gets the fallback (for an untouched row it is the argmax
      // anyway). The row holds no NaN here (sanitized, and every processor clamps), so its scan's
      // max is -Infinity exactly when nothing is left.
      let token: number;
      if (truncate) {
        const row = truncate(logits);
        token = row.max === -Infinity ? fallback : sampleRow(logits, row, rng);
      } else token = allMasked(logits) ? fallback : argmax(logits);
      const logprob = raw ? logprobsOf(raw, token, o.logprobs ?? 0) : undefined;
      if (logprob) cumulativeLogprob += logprob.logprob;
      generated.push(token);
      generatedCounts.set(token, (generatedCounts.get(token) ?? 0) + 1);
      seen.add(token);

      let text = '';
      let stopString: string | undefined;
      if (o.eosIds.has(token) && (!o.ignoreEos || o.constraint)) {
        finished = 'stop';
        text = flushPending();
      } else {
        const matched = stopMatcher.push(detokenizer.push(token));
        text = matched.emit;
        if (matched.stopped) {
          finished = 'stop';
          stopString = matched.matched;
          if (o.includeStopString) text += matched.matched ?? '';
        }
        else if (generated.length >= o.maxTokens) {
          finished = 'length';
          text += flushPending();
        }
      }
      if (finished) o.constraint?.release();
      return { token, text, logprob, finish: finished, ...(stopString === undefined ? {} : { stopString }) };
    },
  };
}
