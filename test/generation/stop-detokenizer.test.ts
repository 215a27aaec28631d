import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDetokenizer } from '../../runtime/generation/detokenizer.ts';
import { createStopMatcher } from '../../runtime/generation/stop-strings.ts';
import { createTokenizer } from '../../runtime/tokenizer.ts';
import { fixturePath } from '../helpers/fixtures.ts';

describe('stop strings', () => {
  const run = (stops: string[], pieces: string[]) => {
    const m = createStopMatcher(stops);
    let out = '';
    for (const p of pieces) {
      const r = m.push(p);
      out += r.emit;
      if (r.stopped) return { out, stopped: true };
    }
    return { out: out + m.flush(), stopped: false };
  };

  it('matches across token boundaries and never emits the stop string', () => {
    expect(run(['END'], ['Hello E', 'N', 'D world'])).toEqual({ out: 'Hello ', stopped: true });
  });

  it('holds back a partial match, then releases it when it turns out not to be one', () => {
    const m = createStopMatcher(['\n\n']);
    expect(m.push('a\n')).toEqual({ emit: 'a', stopped: false });
    expect(m.push('b')).toEqual({ emit: '\nb', stopped: false });
  });

  it('stops at the earliest of several stop strings', () => {
    expect(run(['xyz', 'b'], ['a', 'bxyz'])).toEqual({ out: 'a', stopped: true });
  });

  it('releases what it held when the text ends without a match', () => {
    expect(run(['STOP'], ['go ST'])).toEqual({ out: 'go ST', stopped: false });
  });

  it('passes everything through without stop strings', () => {
    expect(run([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
});

describe('incremental detokenizer', () => {
  const dir = fixturePath('tiny-chat');
  const tokenizer = createTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
  const decode = (ids: readonly number[]) => tokenizer.decode(ids);

  it('never splits a multi-byte character that spans byte-level tokens', () => {
    const text = 'price 10€ 🙂 ok';
    const ids = tokenizer.encodeRaw(text);
    expect(ids.length).toBeGreaterThan(text.length / 2); // € and 🙂 are several byte tokens each
    const d = createDetokenizer(decode);
    const deltas = ids.map((id) => d.push(id));
    for (const delta of deltas) expect(delta).not.toContain('\uFFFD');
    expect(deltas.join('') + d.flush()).toBe(text);
    expect(deltas.some((x) => x === '')).toBe(true); // held while a character was incomplete
  });

  it('keeps spacing between words the same as decoding all at once', () => {
    const ids = tokenizer.encodeRaw('the quick brown fox jumps over the lazy dog');
    const d = createDetokenizer(decode);
    expect(ids.map((id) => d.push(id)).join('') + d.flush()).toBe(decode(ids));
  });
});
