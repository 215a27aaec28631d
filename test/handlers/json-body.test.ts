// Body parsing: small bodies in place, large ones in the parser worker, the same answers either way.
import { describe, expect, it } from 'vitest';
import { depthExceeds, IN_PLACE_BYTES, parseJsonBody } from '../../handlers/shared/json-body.ts';

const bytes = (text: string) => {
  const b = Buffer.from(text);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};
const padded = (json: string) => json.replace(/^\{/, `{"pad":"${'x'.repeat(IN_PLACE_BYTES)}",`);

describe('parseJsonBody', () => {
  it.each([
    ['small', (j: string) => j],
    ['large (worker)', padded],
  ])('%s: values, syntax errors and depth limits', async (_, size) => {
    const ok = await parseJsonBody(bytes(size('{"a":[1,"é",{"b":null}],"s":"\\ud800"}')), 64);
    expect(ok).toMatchObject({ ok: true, value: { a: [1, 'é', { b: null }], s: '\ud800' } });
    expect(await parseJsonBody(bytes(size('{"a":1')), 64)).toEqual({ ok: false, reason: 'syntax' });
    const deep = `{"d":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    expect(await parseJsonBody(bytes(size(deep)), 64)).toEqual({ ok: false, reason: 'depth' });
  });

  it('many large bodies at once each get their own answer', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => parseJsonBody(bytes(padded(`{"i":${i}}`)), 64)));
    expect(answers.map((a) => (a.ok ? (a.value as { i: number }).i : -1))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('depthExceeds counts nesting without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(depthExceeds(deep, 64)).toBe(true);
    expect(depthExceeds({ a: { b: [1, 2, { c: 3 }] } }, 4)).toBe(false);
    expect(depthExceeds({ a: { b: [1, 2, { c: 3 }] } }, 3)).toBe(true);
  });
});
