// Bounded tokenization: a text's first tokens from a prefix of it, equal to tokenizing it whole,
// with work bounded by the tokens asked for — never by the text's size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTokenizer, cutPoint, MAX_CHARS_PER_TOKEN, tokenizeStats } from '../../runtime/tokenizer.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { SHARED_MODELS_DIR, sharedModelsAvailable } from '../helpers/paths.ts';

const load = (dir: string) =>
  createTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));

const sentence = 'The quick brown fox jumps over the lazy dog, and then — naïvely — café, 東京, 🙂 again. ';
const texts = [sentence.repeat(400), 'x'.repeat(20_000), `${'word '.repeat(3000)}end`, '\u0000\u200f'.repeat(5000) + sentence.repeat(50), '🙂'.repeat(9000)];

function checkTokenizer(name: string, dir: () => string) {
  describe(`encodePrefix on ${name}`, () => {
    it.each(texts.map((t, i) => [i, t] as const))('text %i: the first tokens equal the whole text\'s, truncated said right', (_, text) => {
      const tokenizer = load(dir());
      const whole = tokenizer.encodeRaw(text);
      for (const limit of [1, 17, 128, 1000, whole.length, whole.length + 5]) {
        const prefix = tokenizer.encodePrefix(text, limit);
        expect(prefix.ids).toEqual(whole.slice(0, limit));
        expect(prefix.truncated).toBe(whole.length > limit);
      }
    });

    it('tokenizes about a context of a 10 MB text, not the 10 MB', () => {
      const tokenizer = load(dir());
      const huge = sentence.repeat(Math.ceil(10_000_000 / sentence.length));
      tokenizeStats.largestCall = 0;
      const prefix = tokenizer.encodePrefix(huge, 1024);
      expect(prefix.ids).toHaveLength(1024);
      expect(prefix.truncated).toBe(true);
      // The window starts at (1024 + margin) x 4 characters and doubles only while too short.
      expect(tokenizeStats.largestCall).toBeLessThanOrEqual((1024 + 16) * 4 * 2);
      const single = tokenizer.encodeSingle(huge, 512);
      expect(single.ids).toHaveLength(512);
      expect(single.truncated).toBe(true);
    });

    it('bounds the work on a 10 MB text without whitespace too (one giant word is cut inside)', () => {
      const tokenizer = load(dir());
      tokenizeStats.largestCall = 0;
      const prefix = tokenizer.encodePrefix('y'.repeat(10_000_000), 1024);
      expect(prefix.truncated).toBe(true);
      expect(prefix.ids.length).toBeLessThanOrEqual(1024);
      expect(tokenizeStats.largestCall).toBeLessThanOrEqual((1024 + 16) * MAX_CHARS_PER_TOKEN + 32_768);
    });
  });
}

checkTokenizer('the byte-level BPE fixture', () => fixturePath('tiny-chat'));
checkTokenizer('the WordPiece fixture', () => fixturePath('tiny-embed'));
if (sharedModelsAvailable) {
  checkTokenizer('SmolLM2 (../shared/models)', () => join(SHARED_MODELS_DIR, 'tiny-random-smollm2'));
  checkTokenizer('all-MiniLM-L6-v2 (../shared/models)', () => join(SHARED_MODELS_DIR, 'tiny-random-minilm-embed'));
} else {
  it.skip('SmolLM2 and MiniLM tokenizers: ../shared/models is missing (needs the shared folder beside the project)', () => {});
}

describe('cutPoint', () => {
  it('cuts before whitespace near the end, else after the straddling word, never inside a surrogate pair', () => {
    expect(cutPoint('aaaaaaaaa bb', 11)).toBe(9);
    expect(cutPoint('aaaa bbbbbbbb cc', 12)).toBe(13); // the word straddling 12 is kept whole
    expect(cutPoint('aaaa bbbbbbbb', 12)).toBe(13); // ... up to the end of the text
    const giant = '🙂'.repeat(40_000);
    expect(cutPoint(giant, 3)).toBe(2);
    expect(cutPoint(giant, 4)).toBe(4);
  });
});
