// The fused decoder session's pieces for scheduling (runtime/backends/owned-kv-session.ts, run in
// the inference worker): extend (a prompt fed in chunks over its cache), held rows in a decode,
// truncate (speculated tokens taken back) and prefix blocks (a row opened from saved KV). Each is
// judged against the plain path on the same weights: logits within 1e-4.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HOLD, type DecoderSession } from '../../runtime/backends/backend.ts';
import { preparedModelFile } from '../../runtime/onnx/prepare.ts';
import { copyFixture } from '../helpers/fixtures.ts';
import { maxAbsDiff, openDecoder, rowOf, vocabOf, type OpenedDecoder } from '../helpers/decoder-sessions.ts';

const TOLERANCE = 1e-4;
const PROMPT = Array.from({ length: 45 }, (_, t) => (t * 37 + 11) % 1500);

describe('fused decoder session: extend, hold, truncate, prefix blocks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-extend-'));
  const modelDir = join(dir, 'chat');
  let vocab: number;
  let fused: OpenedDecoder;
  let session: DecoderSession;

  beforeAll(async () => {
    copyFixture('tiny-chat', modelDir);
    vocab = vocabOf(modelDir);
    const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const file = await preparedModelFile(join(modelDir, 'onnx', 'model.onnx'), { quantize: 'none', fuse: config, decoder: true, log: () => {} });
    fused = await openDecoder(modelDir, file);
    session = fused.session;
  });
  beforeEach(() => session.reset());
  afterAll(async () => {
    await fused.backend.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The whole prompt in one prefill: every position's logits. */
  async function whole(prompt: number[]): Promise<Float32Array[]> {
    const logits = await session.prefill([prompt], [true]);
    const rows = prompt.map((_, t) => logits.at(0, t).slice());
    session.reset();
    return rows;
  }

  it('extends a row in chunks to the same logits as one prefill, at every position', async () => {
    const reference = await whole(PROMPT);
    const extend = session.extend!.bind(session);
    await session.prefill([PROMPT.slice(0, 7)]);
    const second = await extend(0, [PROMPT.slice(7, 30)], [true]);
    for (let t = 7; t < 30; t++) expect(maxAbsDiff(second.at(0, t - 7), reference[t]!)).toBeLessThan(TOLERANCE);
    const third = await extend(0, [PROMPT.slice(30)]);
    expect(maxAbsDiff(third.last(0), reference.at(-1)!)).toBeLessThan(TOLERANCE);
    expect(() => third.at(0, 0)).toThrow(/not asked for/);
  });

  it('extends several rows of different lengths in one run', async () => {
    const other = PROMPT.slice(0, 20).reverse();
    const [a, b] = [await whole(PROMPT), await whole(other)];
    await session.prefill([[9, 9, 9]]); // a row that stays out of the run
    await session.prefill([PROMPT.slice(0, 10), other.slice(0, 3)]);
    const out = await session.extend!(1, [PROMPT.slice(10), other.slice(3)]);
    expect(maxAbsDiff(out.last(0), a.at(-1)!)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(out.last(1), b.at(-1)!)).toBeLessThan(TOLERANCE);
  });

  it('a held row does not advance in a decode; the others do', async () => {
    const prompts = [PROMPT.slice(0, 12), PROMPT.slice(5, 20)];
    await session.prefill(prompts);
    const both = (await session.decode([3, 4])).slice();
    const next = (await session.decode([5, 6])).slice();
    session.reset();
    await session.prefill(prompts);
    const held = await session.decode([3, HOLD]);
    expect(maxAbsDiff(rowOf(held, 0, vocab), rowOf(both, 0, vocab))).toBeLessThan(TOLERANCE);
    await session.decode([HOLD, 4]); // row 1 catches up
    const caught = await session.decode([5, 6]);
    for (const r of [0, 1]) expect(maxAbsDiff(rowOf(caught, r, vocab), rowOf(next, r, vocab))).toBeLessThan(TOLERANCE);
  });

  it('keepRows permutes and duplicates rows (beams fork), copying only rows that change', async () => {
    const prompts = [PROMPT.slice(0, 9), PROMPT.slice(3, 25), PROMPT.slice(10, 14)];
    await session.prefill(prompts);
    const next = [11, 12, 13];
    const reference = (await session.decode(next)).slice();
    session.reset();
    await session.prefill(prompts);
    const order = [2, 0, 0, 1, 2];
    session.keepRows(order);
    expect(session.rows).toBe(5);
    const reordered = await session.decode(order.map((r) => next[r]!));
    order.forEach((from, to) => expect(maxAbsDiff(rowOf(reordered, to, vocab), rowOf(reference, from, vocab))).toBeLessThan(TOLERANCE));
  });

  it('keepRows compacts rows that move down and others that move up, in place, each row keeping its own cache', async () => {
    const prompts = [PROMPT.slice(0, 9), PROMPT.slice(3, 25), PROMPT.slice(10, 14), PROMPT.slice(20, 41)];
    await session.prefill(prompts);
    const next = [11, 12, 13, 14];
    const reference = (await session.decode(next)).slice();
    // Row 0 leaves and three rows shift down; then a swap (one row down, one up, over its source).
    for (const order of [[1, 2, 3], [3, 1, 0, 2]]) {
      session.reset();
      await session.prefill(prompts);
      session.keepRows(order);
      const kept = await session.decode(order.map((r) => next[r]!));
      order.forEach((from, to) => expect(maxAbsDiff(rowOf(kept, to, vocab), rowOf(reference, from, vocab))).toBeLessThan(TOLERANCE));
    }
  });

  it('extendPair runs decode rows and a prompt chunk in one run, as a decode and an extend give them', async () => {
    const prompts = [PROMPT.slice(0, 12), PROMPT.slice(5, 20), PROMPT.slice(0, 8)];
    const reference = async () => {
      await session.prefill(prompts);
      const decoded = (await session.decode([3, 4, HOLD])).slice();
      const chunk = await session.extend!(2, [PROMPT.slice(8, 30)], [true]);
      const rows = Array.from({ length: 22 }, (_, t) => chunk.at(0, t).slice());
      const after = (await session.decode([5, 6, 7])).slice();
      session.reset();
      return { decoded, rows, after };
    };
    const plain = await reference();
    await session.prefill(prompts);
    // Row 2 is in both groups: held (no tokens) among the decode rows, fed its chunk in the other.
    const [decoded, chunk] = await session.extendPair!({ first: 0, tokens: [[3], [4], []] }, { first: 2, tokens: [PROMPT.slice(8, 30)], everyPosition: [true] });
    for (const r of [0, 1]) expect(maxAbsDiff(decoded.last(r), rowOf(plain.decoded, r, vocab))).toBeLessThan(TOLERANCE);
    for (let t = 0; t < 22; t++) expect(maxAbsDiff(chunk.at(0, t), plain.rows[t]!)).toBeLessThan(TOLERANCE);
    const after = await session.decode([5, 6, 7]);
    for (const r of [0, 1, 2]) expect(maxAbsDiff(rowOf(after, r, vocab), rowOf(plain.after, r, vocab))).toBeLessThan(TOLERANCE);
  });

  it("a chunk beside a longer row attends over its own span of the cache only, to the same logits", async () => {
    // Row 0 holds 100 positions (the buffers' stride grows to 128); row 1's chunks read 64 of them.
    const long = Array.from({ length: 100 }, (_, t) => (t * 53 + 7) % 1500);
    const reference = await whole(PROMPT);
    await session.prefill([long, PROMPT.slice(0, 8)]);
    const lone = await session.extend!(1, [PROMPT.slice(8, 20)], [true]);
    for (let t = 8; t < 20; t++) expect(maxAbsDiff(lone.at(0, t - 8), reference[t]!)).toBeLessThan(TOLERANCE);
    const [, paired] = await session.extendPair!({ first: 0, tokens: [[5], []] }, { first: 1, tokens: [PROMPT.slice(20)], everyPosition: [true] });
    for (let t = 20; t < PROMPT.length; t++) expect(maxAbsDiff(paired.at(0, t - 20), reference[t]!)).toBeLessThan(TOLERANCE);
    // The long row's cache is untouched by the narrower runs: it decodes as if they never happened.
    const after = await session.decode([6, HOLD]);
    session.reset();
    await session.prefill([[...long, 5]]);
    expect(maxAbsDiff(rowOf(after, 0, vocab), (await session.decode([6])).slice(0, vocab))).toBeLessThan(TOLERANCE);
  });

  it('truncate takes back positions: the row continues as if they were never fed', async () => {
    await session.prefill([PROMPT.slice(0, 12)]);
    const plain = (await session.decode([77])).slice();
    session.reset();
    await session.prefill([PROMPT.slice(0, 12)]);
    await session.extend!(0, [[500, 501, 502]]);
    session.truncate!(0, 12);
    const after = await session.decode([77]);
    expect(maxAbsDiff(after, plain)).toBeLessThan(TOLERANCE);
  });

  it('a row opened from saved prefix blocks and extended gives the whole prompt logits', async () => {
    const reference = await whole(PROMPT);
    const blocks = session.blocks!;
    expect(blocks.size).toBe(16);
    await session.prefill([PROMPT]);
    blocks.save(0, 0, [101, 102]); // positions 0..31
    session.reset();
    blocks.open([101, 102]);
    expect(session.rows).toBe(1);
    const rest = await session.extend!(0, [PROMPT.slice(32)], [true]);
    for (let t = 32; t < PROMPT.length; t++) expect(maxAbsDiff(rest.at(0, t - 32), reference[t]!)).toBeLessThan(TOLERANCE);
    blocks.drop([101, 102]);
    blocks.open([101]);
    await expect(session.extend!(1, [[1]])).rejects.toThrow(/prefix block 101 is not held|rows 1/);
  });
});
