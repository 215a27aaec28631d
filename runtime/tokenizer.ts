// Tokenizer: @huggingface/tokenizers behind the few operations the tasks need, with truncation.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { RuntimeError } from './errors.ts';

export interface Encoded {
  ids: number[];
  typeIds: number[];
  /** True when tokens were dropped to fit the model's limit. */
  truncated: boolean;
}

/** The first tokens of a text, and whether the text has more than were asked for. */
export interface Prefix {
  ids: number[];
  /** True when the whole text has more tokens than `maxTokens`. */
  truncated: boolean;
}

export interface Tokenizer {
  /** Text to ids without the model's special tokens (BOS/CLS/SEP). */
  encodeRaw(text: string): number[];
  /**
   * The first `maxTokens` ids of `text` (no special tokens), tokenizing only a prefix of a long
   * text: the work is bounded by `maxTokens`, not by the text's size.
   */
  encodePrefix(text: string, maxTokens: number): Prefix;
  /** One sequence with special tokens, cut to `maxLength` tokens in total. */
  encodeSingle(text: string, maxLength: number): Encoded;
  /**
   * A cross-encoder pair from raw ids (see encodeRaw). The second part is cut to `maxSecond`
   * (the caller's own limit), then both to fit `maxLength`; only the latter sets `truncated`.
   */
  encodePair(first: readonly number[], second: readonly number[], maxLength: number, maxSecond?: number): Encoded;
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
  /** Every token's stored form by id and how the stored forms encode bytes (for grammar engines). */
  encodedVocabulary(): EncodedVocabulary;
  readonly vocabSize: number;
  readonly specialIds: ReadonlySet<number>;
}

/**
 * Tokens as tokenizer.json stores them: `byte_level` (GPT-2's byte-to-character map),
 * `byte_fallback` (SentencePiece with <0xNN> tokens) or `raw` (the text itself).
 */
export interface EncodedVocabulary {
  tokens: string[];
  kind: 'byte_level' | 'byte_fallback' | 'raw';
}

/** The byte encoding a tokenizer.json's decoder implies. */
function vocabularyKind(json: Record<string, unknown>): EncodedVocabulary['kind'] {
  const text = JSON.stringify(json.decoder ?? null);
  if (text.includes('"ByteLevel"')) return 'byte_level';
  if (text.includes('"ByteFallback"')) return 'byte_fallback';
  return 'raw';
}

/** Process-wide counters: the longest text handed to the tokenizer library in one call (tests bound it). */
export const tokenizeStats = { calls: 0, largestCall: 0 };

/** Tokens kept past the cut before a prefix's first tokens are trusted as the text's own. */
const PREFIX_MARGIN = 16;
/** The first window guesses this many characters a token; it doubles while that is too few. */
const CHARS_PER_TOKEN_GUESS = 4;
/**
 * No vocabulary has tokens longer than this many characters on average over a text (the longest
 * real tokens are runs of spaces in code models). Past `(maxTokens + margin) x` this, a text is
 * read no further: what lies beyond cannot be among its first `maxTokens` tokens.
 */
export const MAX_CHARS_PER_TOKEN = 64;

/** Words up to this long are never cut: tokenizers treat a word as a unit (WordPiece: [UNK] past 100 chars). */
const MAX_WORD = 32_768;

/**
 * Where to cut `text` near `at` so that the prefix ends on a word boundary (a pre-tokenizer
 * boundary, so its tokens are the whole text's own): before whitespace in the last quarter, else
 * after the word that straddles `at` when it ends within MAX_WORD characters (or the text does).
 * Only a single word longer than that is cut inside, never inside a surrogate pair.
 */
export function cutPoint(text: string, at: number): number {
  const floor = Math.floor(at * 0.75);
  for (let i = at; i > floor; i--) if (isSpace(text.charCodeAt(i))) return i;
  const reach = Math.min(text.length, at + MAX_WORD);
  for (let i = at; i < reach; i++) if (isSpace(text.charCodeAt(i))) return i;
  if (reach === text.length) return text.length;
  const code = text.charCodeAt(at - 1);
  return code >= 0xd800 && code <= 0xdbff ? at - 1 : at;
}

/** ASCII and Unicode whitespace, by code unit (a regex per character is slow on long texts). */
function isSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  return code === 0x85 || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000;
}

/** Where a post-processor puts its special tokens around one or two sequences. */
interface Template {
  pieces: number[][]; // before, [between,] after
  types: number[][];
  secondType: number;
}

function indexOfRun(haystack: readonly number[], needle: readonly number[], from: number): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function createTokenizer(tokenizerJson: object, tokenizerConfig: object): Tokenizer {
  const hf = new HfTokenizer(tokenizerJson, tokenizerConfig);
  const raw = (text: string) => {
    tokenizeStats.calls++;
    if (text.length > tokenizeStats.largestCall) tokenizeStats.largestCall = text.length;
    return hf.encode(text, { add_special_tokens: false }).ids;
  };

  function encodePrefix(text: string, maxTokens: number): Prefix {
    const limit = Math.max(0, maxTokens);
    let window = (limit + PREFIX_MARGIN) * CHARS_PER_TOKEN_GUESS;
    const cap = Math.max((limit + PREFIX_MARGIN) * MAX_CHARS_PER_TOKEN, MAX_WORD);
    for (;;) {
      // A text this long whose prefix is still short of tokens (a giant [UNK] word): read no further.
      if (window >= cap && cap < text.length) {
        const ids = raw(text.slice(0, cutPoint(text, cap)));
        return { ids: ids.length > limit ? ids.slice(0, limit) : ids, truncated: true };
      }
      if (window >= text.length) {
        const ids = raw(text);
        return { ids: ids.length > limit ? ids.slice(0, limit) : ids, truncated: ids.length > limit };
      }
      const cut = cutPoint(text, window);
      const ids = raw(text.slice(0, cut));
      if (cut >= text.length) return { ids: ids.length > limit ? ids.slice(0, limit) : ids, truncated: ids.length > limit };
      // Enough tokens before the cut: the first `limit` are the text's own, and there are more.
      if (ids.length >= limit + PREFIX_MARGIN) return { ids: ids.slice(0, limit), truncated: true };
      window = Math.max(window * 2, cut + 1);
    }
  }

  // Learn the special-token template from probes instead of branching on model families.
  const single = ((): Template => {
    const full = hf.encode('a').ids;
    const a = raw('a');
    const at = indexOfRun(full, a, 0);
    if (at < 0) return { pieces: [[], []], types: [[], []], secondType: 0 };
    const before = full.slice(0, at);
    const after = full.slice(at + a.length);
    return { pieces: [before, after], types: [before.map(() => 0), after.map(() => 0)], secondType: 0 };
  })();
  const pair = ((): Template => {
    const enc = hf.encode('a', { text_pair: 'b', return_token_type_ids: true });
    const full = enc.ids;
    const types = enc.token_type_ids ?? full.map(() => 0);
    const a = raw('a');
    const b = raw('b');
    const at = indexOfRun(full, a, 0);
    const bt = at < 0 ? -1 : indexOfRun(full, b, at + a.length);
    if (bt < 0) return { pieces: [[], [], []], types: [[], [], []], secondType: 1 };
    return {
      pieces: [full.slice(0, at), full.slice(at + a.length, bt), full.slice(bt + b.length)],
      types: [types.slice(0, at), types.slice(at + a.length, bt), types.slice(bt + b.length)],
      secondType: types[bt] ?? 1,
    };
  })();
  const singleOverhead = single.pieces.flat().length;
  const pairOverhead = pair.pieces.flat().length;
  const specialIds = new Set<number>([...hf.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id));
  const vocabSize = Math.max(...hf.get_vocab(true).values()) + 1;

  return {
    encodeRaw: raw,
    encodePrefix,
    encodeSingle(text, maxLength) {
      const room = Math.max(0, maxLength - singleOverhead);
      const { ids: kept, truncated } = encodePrefix(text, room);
      const [before = [], after = []] = single.pieces;
      return {
        ids: [...before, ...kept, ...after],
        typeIds: new Array(before.length + kept.length + after.length).fill(0),
        truncated,
      };
    },
    encodePair(first, second, maxLength, maxSecond) {
      let a = first;
      let b = second;
      if (maxSecond !== undefined && b.length > maxSecond) b = b.slice(0, maxSecond);
      const wanted = a.length + b.length;
      const room = Math.max(0, maxLength - pairOverhead);
      if (a.length + b.length > room) b = b.slice(0, Math.max(0, room - a.length));
      if (a.length > room) a = a.slice(0, room);
      const [p0 = [], p1 = [], p2 = []] = pair.pieces;
      const [t0 = [], t1 = [], t2 = []] = pair.types;
      return {
        ids: [...p0, ...a, ...p1, ...b, ...p2],
        typeIds: [...t0, ...a.map(() => 0), ...t1, ...b.map(() => pair.secondType), ...t2],
        truncated: a.length + b.length < wanted,
      };
    },
    decode(ids, options = {}) {
      if (ids.length === 0) return ''; // the library throws on an empty list
      return hf.decode(ids as number[], { skip_special_tokens: options.skipSpecialTokens ?? true });
    },
    tokenToId: (token) => hf.token_to_id(token),
    encodedVocabulary() {
      const tokens = new Array<string>(vocabSize).fill('');
      for (const [token, id] of hf.get_vocab(true)) tokens[id] = token;
      return { tokens, kind: vocabularyKind(tokenizerJson as Record<string, unknown>) };
    },
    vocabSize,
    specialIds,
  };
}

/** Turns a content length check into the right answer for `truncate: false` configs. */
export function assertFits(encoded: Encoded, maxLength: number, truncate: boolean, param: string): void {
  if (encoded.truncated && !truncate) {
    throw new RuntimeError('context_length_exceeded', `Input is longer than the model's maximum of ${maxLength} tokens.`, { param });
  }
}
