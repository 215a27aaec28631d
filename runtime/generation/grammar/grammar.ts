// Grammar-constrained decoding: what a grammar engine offers, and the logits constraint that
// masks every token the grammar does not allow next. The engine (xgrammar.ts) is the only part
// that knows a WASM module; this file and the sequence see only these interfaces.
import type { SequenceView } from '../logits-processors.ts';

/**
 * A structural-tag format (xgrammar's structural tag JSON, which is plain data): tags with a fixed
 * begin and end around JSON-schema content, sequences, choices and triggered tags.
 */
export type TagFormat =
  | { type: 'any_text' }
  | { type: 'const_string'; value: string }
  | { type: 'json_schema'; json_schema: boolean | Record<string, unknown> }
  | { type: 'sequence'; elements: TagFormat[] }
  | { type: 'or'; elements: TagFormat[] }
  | { type: 'tag'; begin: string; content: TagFormat; end: string }
  | { type: 'triggered_tags'; triggers: string[]; tags: Array<Extract<TagFormat, { type: 'tag' }>>; at_least_one?: boolean; stop_after_first?: boolean }
  | { type: 'tags_with_separator'; tags: Array<Extract<TagFormat, { type: 'tag' }>>; separator: string; at_least_one?: boolean; stop_after_first?: boolean };

/** What the output must be. `param` is the request field an error about it names. */
export type GrammarSpec =
  | { kind: 'json'; param: string }
  | { kind: 'json_schema'; schema: boolean | Record<string, unknown>; param: string }
  | { kind: 'structural_tag'; format: TagFormat; param: string };

export interface GrammarVocabulary {
  tokens: string[];
  kind: 'byte_level' | 'byte_fallback' | 'raw';
}

export interface GrammarMatcher {
  /** Bitmask words (bit i of word w: token 32w + i) of the tokens the grammar allows next. */
  allowed(): Int32Array;
  /** Advances by one token; false when the grammar does not allow it (the state is unchanged). */
  accept(token: number): boolean;
  /** The grammar has accepted a stop token: nothing may follow. */
  readonly terminated: boolean;
  dispose(): void;
}

export interface CompiledGrammar {
  matcher(): Promise<GrammarMatcher>;
}

export interface GrammarEngine {
  /** Compiles once per spec (cached, bounded); an uncompilable spec is an invalid_request naming spec.param. */
  compile(spec: GrammarSpec): Promise<CompiledGrammar>;
}

export interface LogitsConstraint {
  /** Masks (to -Infinity) every logit the grammar does not allow after the sequence's tokens. */
  apply(logits: Float32Array, sequence: SequenceView): void;
  /**
   * Computes the mask for the sequence's next position ahead of its logits (while the model runs
   * in the inference worker), so apply() only writes it.
   */
  prepare(generated: readonly number[]): void;
  /** Frees the matcher (the sequence has finished). */
  release(): void;
}

/**
 * The constraint of one sequence. It catches the matcher up with the sequence's generated tokens
 * before masking, so it holds no decision of its own: the tokens decide the state.
 */
export function grammarConstraint(matcher: GrammarMatcher): LogitsConstraint {
  let accepted = 0;
  /** The mask for the position after `accepted` tokens, once computed. */
  let mask: Int32Array | undefined;
  const maskAfter = (tokens: readonly number[]) => {
    // A token the grammar refused leaves the matcher where it was; the mask then still holds.
    while (accepted < tokens.length) {
      matcher.accept(tokens[accepted++] as number);
      mask = undefined;
    }
    return (mask ??= matcher.allowed());
  };
  return {
    apply(logits, sequence) {
      maskLogits(logits, maskAfter(sequence.generated));
    },
    prepare(generated) {
      maskAfter(generated);
    },
    release: () => matcher.dispose(),
  };
}

/** Sets every logit whose bit is clear (or that lies past the mask) to -Infinity. */
export function maskLogits(logits: Float32Array, words: Int32Array): void {
  const covered = Math.min(logits.length, words.length * 32);
  for (let w = 0; w * 32 < covered; w++) {
    const bits = words[w] as number;
    if (bits === -1) continue;
    const end = Math.min(covered, w * 32 + 32);
    for (let i = w * 32; i < end; i++) if (((bits >>> (i - w * 32)) & 1) === 0) logits[i] = -Infinity;
  }
  logits.fill(-Infinity, covered);
}
