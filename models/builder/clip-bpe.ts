// Generates a CLIP-style BPE tokenizer (the files of diffusers' tokenizer/ folder): byte-level BPE
// with a `</w>` end-of-word suffix, lowercase, CLIP's word split, <|startoftext|> ... <|endoftext|>.
import { bytesToUnicode } from './byte-bpe.ts';
import { COMMON_WORDS, syllables } from './words.ts';

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';
const SUFFIX = '</w>';
/** CLIP's pre-tokenizer pattern (tokenizers' CLIPConverter); whitespace between matches is dropped. */
const WORD_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** Words of typical image prompts, so prompts tokenize into whole words rather than letters. */
const PROMPT_WORDS = `a an photo photograph of astronaut riding horse on moon lighthouse at dusk dawn sunset sunrise night
oil painting watercolor sketch drawing portrait landscape mountain mountains ocean sea beach lake forest
street cat dog bird flower flowers garden castle village cinematic lighting highly detailed sharp focus
red orange yellow green purple white black golden silver old man woman girl boy robot dragon cloud clouds
rain snow storm fog mist sun star stars space planet wave waves rock rocks field grass stone wooden glass`;

/** The order of CLIP's base vocabulary: bytes_to_unicode()'s printable bytes first, then the rest. */
function baseCharacters(): string[] {
  const table = bytesToUnicode();
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const order = [...Array.from({ length: 256 }, (_, b) => b).filter(printable), ...Array.from({ length: 256 }, (_, b) => b).filter((b) => !printable(b))];
  return order.map((b) => table[b] as string);
}

/** Splits text as CLIP's normalizer and pre-tokenizer do; each word is its byte characters, `</w>` on the last. */
function clipWords(text: string, table: string[]): string[][] {
  const encoder = new TextEncoder();
  const normalized = text.normalize('NFC').replace(/\s+/gu, ' ').toLowerCase();
  return (normalized.match(new RegExp(WORD_PATTERN, 'gu')) ?? []).map((w) => {
    const chars = [...encoder.encode(w)].map((b) => table[b] as string);
    chars[chars.length - 1] += SUFFIX;
    return chars;
  });
}

/**
 * Learns `count` merges over weighted words (most frequent pair first, ties by the pair's text),
 * updating pair counts only in the words a merge touches.
 */
function learnMerges(words: Array<{ chars: string[]; weight: number }>, count: number): Array<[string, string]> {
  const key = (a: string, b: string) => `${a} ${b}`;
  const counts = new Map<string, number>();
  const where = new Map<string, Set<number>>();
  const tally = (index: number, sign: 1 | -1) => {
    const { chars: w, weight } = words[index] as { chars: string[]; weight: number };
    for (let i = 0; i + 1 < w.length; i++) {
      const k = key(w[i] as string, w[i + 1] as string);
      counts.set(k, (counts.get(k) ?? 0) + sign * weight);
      if (sign > 0) {
        const set = where.get(k) ?? new Set<number>();
        set.add(index);
        where.set(k, set);
      }
    }
  };
  words.forEach((_, i) => tally(i, 1));
  const merges: Array<[string, string]> = [];
  while (merges.length < count) {
    let best = '';
    let bestCount = 0;
    for (const [k, n] of counts) if (n > bestCount || (n === bestCount && n > 0 && k < best)) [best, bestCount] = [k, n];
    if (bestCount === 0) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    for (const index of where.get(best) ?? []) {
      const w = (words[index] as { chars: string[] }).chars;
      tally(index, -1);
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) w.splice(i, 2, a + b);
      tally(index, 1);
    }
    counts.delete(best);
  }
  return merges;
}

export interface ClipTokenizerFiles {
  tokenizerJson: object;
  tokenizerConfig: object;
  specialTokensMap: object;
  /** vocab.json: token -> id. */
  vocab: Record<string, number>;
  /** merges.txt, with its `#version: 0.2` header. */
  merges: string;
  bosId: number;
  eosId: number;
}

/**
 * A vocabulary of exactly `size` tokens laid out as CLIP's: 256 byte characters, the same with
 * `</w>`, the merged tokens, then <|startoftext|> and <|endoftext|> as the last two ids (so the
 * EOS id is the largest and CLIP's argmax pooling finds the first EOS).
 */
export function clipTokenizer(size: number, maxLength: number): ClipTokenizerFiles {
  const table = bytesToUnicode();
  const base = baseCharacters();
  const tokens = [...base, ...base.map((c) => c + SUFFIX)];
  const needed = size - tokens.length - 2;
  if (needed < 0) throw new Error(`a CLIP vocabulary needs at least ${tokens.length + 2} tokens, not ${size}`);
  // Filler syllables enough to yield `needed` merges even when the words run out of pairs.
  const filler: string[] = [];
  for (const s of syllables()) {
    if (filler.length >= needed) break;
    filler.push(s);
  }
  // Common and prompt words weigh more than filler, so they become whole tokens first.
  const weights = new Map<string, { chars: string[]; weight: number }>();
  const addWords = (text: string, weight: number) => {
    for (const chars of clipWords(text, table)) {
      const entry = weights.get(chars.join('')) ?? { chars, weight: 0 };
      entry.weight += weight;
      weights.set(chars.join(''), entry);
    }
  };
  addWords(`${COMMON_WORDS.join(' ')} ${PROMPT_WORDS}`, 4);
  addWords(filler.join(' '), 1);
  const words = [...weights.values()];
  const merges = learnMerges(words, needed);
  if (merges.length < needed) throw new Error(`cannot learn ${needed} CLIP merges from the built-in corpus`);
  for (const [a, b] of merges) tokens.push(a + b);
  tokens.push(CLIP_BOS, CLIP_EOS);
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  if (Object.keys(vocab).length !== size) throw new Error('CLIP vocabulary has duplicate tokens');
  const bosId = size - 2;
  const eosId = size - 1;
  const added = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  const addedToken = (content: string) => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [added(CLIP_BOS, bosId), added(CLIP_EOS, eosId)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: WORD_PATTERN }, behavior: 'Removed', invert: true },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      post_processor: { type: 'RobertaProcessing', sep: [CLIP_EOS, eosId], cls: [CLIP_BOS, bosId], trim_offsets: false, add_prefix_space: false },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: CLIP_EOS,
        continuing_subword_prefix: '',
        end_of_word_suffix: SUFFIX,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: merges.map(([a, b]) => `${a} ${b}`),
      },
    },
    tokenizerConfig: {
      add_prefix_space: false,
      added_tokens_decoder: { [bosId]: { ...addedToken(CLIP_BOS), special: true }, [eosId]: { ...addedToken(CLIP_EOS), special: true } },
      bos_token: CLIP_BOS,
      clean_up_tokenization_spaces: true,
      do_lower_case: true,
      eos_token: CLIP_EOS,
      errors: 'replace',
      model_max_length: maxLength,
      pad_token: CLIP_EOS,
      tokenizer_class: 'CLIPTokenizer',
      unk_token: CLIP_EOS,
    },
    specialTokensMap: { bos_token: addedToken(CLIP_BOS), eos_token: addedToken(CLIP_EOS), pad_token: CLIP_EOS, unk_token: addedToken(CLIP_EOS) },
    vocab,
    merges: `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`,
    bosId,
    eosId,
  };
}
