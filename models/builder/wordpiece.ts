// Generates a BERT-style WordPiece tokenizer (tokenizer.json + tokenizer_config.json) of a given size.
import { COMMON_WORDS, syllables } from './words.ts';

export const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

function wordPieceVocab(size: number): string[] {
  const vocab: string[] = [...BERT_SPECIALS];
  const seen = new Set<string>(vocab);
  const add = (t: string) => {
    if (vocab.length < size && !seen.has(t)) {
      seen.add(t);
      vocab.push(t);
    }
  };
  const chars = [...'abcdefghijklmnopqrstuvwxyz0123456789', ...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];
  for (const c of chars) add(c);
  for (const c of chars.slice(0, 36)) add(`##${c}`);
  for (const w of COMMON_WORDS) add(w);
  for (const s of syllables()) {
    if (vocab.length >= size) break;
    add(s);
    add(`##${s}`);
  }
  if (vocab.length < size) throw new Error(`cannot generate a WordPiece vocabulary of ${size} tokens`);
  return vocab;
}

export function wordPieceTokenizer(size: number, maxLength: number): { tokenizerJson: object; tokenizerConfig: object } {
  const vocab = wordPieceVocab(size);
  const id = (t: string) => vocab.indexOf(t);
  const special = (t: string) => ({ id: id(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const seq = (name: 'A' | 'B', typeId: number) => ({ Sequence: { id: name, type_id: typeId } });
  const tok = (t: string, typeId: number) => ({ SpecialToken: { id: t, type_id: typeId } });
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: BERT_SPECIALS.map(special),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0)],
        pair: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0), seq('B', 1), tok('[SEP]', 1)],
        special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }])),
      },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: {
        type: 'WordPiece',
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      },
    },
    tokenizerConfig: {
      tokenizer_class: 'BertTokenizer',
      do_lower_case: true,
      model_max_length: maxLength,
      cls_token: '[CLS]',
      sep_token: '[SEP]',
      pad_token: '[PAD]',
      unk_token: '[UNK]',
      mask_token: '[MASK]',
      clean_up_tokenization_spaces: true,
    },
  };
}
