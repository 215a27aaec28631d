// Generates a GPT-2-style byte-level BPE tokenizer (tokenizer.json) of a given size: merges learned
// from a small built-in corpus, then filler tokens so that every model id decodes to text.
import { COMMON_WORDS, syllables } from './words.ts';

export const CHATML_SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/** GPT-2's reversible byte -> printable character table. */
export function bytesToUnicode(): string[] {
  const printable = new Set<number>();
  for (let b = 33; b <= 126; b++) printable.add(b);
  for (let b = 161; b <= 172; b++) printable.add(b);
  for (let b = 174; b <= 255; b++) printable.add(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable.has(b) ? b : 256 + extra++);
  return table;
}

const CORPUS = [
  ...COMMON_WORDS,
  'The capital of France is Paris.',
  'What is the capital of France?',
  'Hello! How can I help you today?',
  'The quick brown fox jumps over the lazy dog.',
  'I think the weather is lovely today, and the sky is blue.',
  'Write a short answer to the question.',
].join(' ');

/** Learns `count` merges greedily from CORPUS split into GPT-2-style words. */
function learnMerges(count: number, table: string[]): Array<[string, string]> {
  const encoder = new TextEncoder();
  const words = (CORPUS.match(/ ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+/gu) ?? []).map((w) => [...encoder.encode(w)].map((b) => table[b] as string));
  const merges: Array<[string, string]> = [];
  for (let m = 0; m < count; m++) {
    const counts = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) counts.set(`${w[i]} ${w[i + 1]}`, (counts.get(`${w[i]} ${w[i + 1]}`) ?? 0) + 1);
    let best = '';
    let bestCount = 1;
    for (const [pair, n] of counts) if (n > bestCount || (n === bestCount && best !== '' && pair < best)) [best, bestCount] = [pair, n];
    if (!best) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) w.splice(i, 2, a + b);
    }
  }
  return merges;
}

export function byteBpeTokenizer(size: number, maxLength: number, chatTemplate: string): { tokenizerJson: object; tokenizerConfig: object } {
  const table = bytesToUnicode();
  const vocab: string[] = [...CHATML_SPECIALS, ...table];
  const seen = new Set(vocab);
  const merges = learnMerges(Math.min(600, Math.max(0, size - vocab.length)), table);
  for (const [a, b] of merges) if (!seen.has(a + b)) seen.add(a + b), vocab.push(a + b);
  // Fill to the model's vocabulary with decodable tokens that no merge produces.
  for (const s of syllables()) {
    if (vocab.length >= size) break;
    const token = `Ġ${s}`;
    if (!seen.has(token)) seen.add(token), vocab.push(token);
  }
  if (vocab.length < size) throw new Error(`cannot generate a byte-level vocabulary of ${size} tokens`);
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: CHATML_SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: null,
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel] },
      post_processor: null,
      decoder: { ...byteLevel, add_prefix_space: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab: Object.fromEntries(vocab.slice(0, size).map((t, i) => [t, i])),
        merges: merges.map(([a, b]) => `${a} ${b}`),
      },
    },
    tokenizerConfig: {
      tokenizer_class: 'GPT2Tokenizer',
      add_prefix_space: false,
      bos_token: '<|im_start|>',
      eos_token: '<|im_end|>',
      pad_token: '<|im_end|>',
      unk_token: '<|endoftext|>',
      additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
      clean_up_tokenization_spaces: false,
      model_max_length: maxLength,
      chat_template: chatTemplate,
    },
  };
}

/** ChatML, as SmolLM2 and Qwen use it (no default system prompt). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * ChatML with Qwen2.5-style tools and Qwen3-style think blocks: `tools` in a system turn with the
 * Hermes `<tool_call>` instructions, assistant `tool_calls` as `<tool_call>` blocks, `tool` results
 * as `<tool_response>` user turns, `reasoning_content` as a `<think>` block. Without tools,
 * calls or reasoning it renders exactly as CHATML_TEMPLATE.
 */
export const CHATML_TOOLS_TEMPLATE = [
  '{%- if tools %}',
  "{{- '<|im_start|>system\\n' }}",
  "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}",
  "{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}",
  "{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}",
  "{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}",
  '{%- endif %}',
  '{%- for message in messages %}',
  "{%- if tools and loop.first and message['role'] == 'system' %}",
  "{%- elif message['role'] == 'assistant' %}",
  "{{- '<|im_start|>assistant\\n' }}",
  "{%- if message['reasoning_content'] %}{{- '<think>\\n' + message['reasoning_content'] + '\\n</think>\\n\\n' }}{%- endif %}",
  "{{- message['content'] }}",
  "{%- if message['tool_calls'] %}{%- for call in message['tool_calls'] %}",
  "{%- if message['content'] or not loop.first %}{{- '\\n' }}{%- endif %}",
  "{{- '<tool_call>\\n{\"name\": \"' + call['function']['name'] + '\", \"arguments\": ' + (call['function']['arguments'] | tojson) + '}\\n</tool_call>' }}",
  '{%- endfor %}{%- endif %}',
  "{{- '<|im_end|>\\n' }}",
  "{%- elif message['role'] == 'tool' %}",
  "{{- '<|im_start|>user\\n<tool_response>\\n' + message['content'] + '\\n</tool_response><|im_end|>\\n' }}",
  '{%- else %}',
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}",
  '{%- endif %}',
  '{%- endfor %}',
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join('');
