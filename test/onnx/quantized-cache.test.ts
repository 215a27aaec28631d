// quantizedModelFile: writes the int8 model once beside the source, keyed by the source bytes and the
// recipe, reuses it after, shares a rewrite between concurrent callers and leaves no temp files.
import * as ort from 'onnxruntime-node';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decodeModel } from '../../runtime/onnx/model-proto.ts';
import { CACHE_DIR_NAME, quantizedModelFile, recipeLine, type RewriteSummary } from '../../runtime/onnx/quantized-cache.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const work = mkdtempSync(join(tmpdir(), 'ovserve-int8-cache-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh model folder holding a copy of the tiny decoder's graph. */
function modelCopy(name: string): string {
  const file = join(work, name, 'onnx', 'model.onnx');
  mkdirSync(dirname(file), { recursive: true });
  copyFileSync(join(fixturePath('tiny-chat'), 'onnx', 'model.onnx'), file);
  return file;
}

describe('quantizedModelFile', () => {
  it('writes <dir>/.ovserve-cache/model.int8.<key>.onnx, a model onnxruntime loads, and reuses it', async () => {
    const source = modelCopy('a');
    const rewrites: RewriteSummary[] = [];
    const file = await quantizedModelFile(source, 'int8', { onRewrite: (s) => rewrites.push(s) });
    const key = createHash('sha256').update(recipeLine('int8')).update(readFileSync(source)).digest('hex').slice(0, 16);
    expect(file).toBe(join(dirname(source), CACHE_DIR_NAME, `model.int8.${key}.onnx`));
    expect(rewrites).toHaveLength(1);
    expect(rewrites[0]!.quantized).toHaveLength(11);
    expect(decodeModel(readFileSync(file)).graph.node.filter((n) => n.opType === 'MatMulInteger')).toHaveLength(11);
    const session = await ort.InferenceSession.create(file);
    expect(session.outputNames).toContain('logits');
    await session.release();

    const written = statSync(file).mtimeMs;
    expect(await quantizedModelFile(source, 'int8', { onRewrite: (s) => rewrites.push(s) })).toBe(file);
    expect(rewrites).toHaveLength(1); // reused, not rewritten
    expect(statSync(file).mtimeMs).toBe(written);
    // The model and its weights (external data onnxruntime maps), and no temp files left.
    expect(readdirSync(dirname(file)).sort()).toEqual([basename(file), `${basename(file)}.data`]);
  });

  it('is keyed by content: the same bytes elsewhere get the same key, changed bytes a new file', async () => {
    const a = modelCopy('b');
    const b = modelCopy('c');
    const fa = await quantizedModelFile(a, 'int8');
    const fb = await quantizedModelFile(b, 'int8');
    expect(basename(fa)).toBe(basename(fb));

    const bytes = readFileSync(b);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100]! + 1) % 256; // one weight byte
    writeFileSync(b, bytes);
    const changed = await quantizedModelFile(b, 'int8');
    expect(changed).not.toBe(fb);
    expect(readdirSync(dirname(fb)).sort()).toEqual([basename(fb), `${basename(fb)}.data`, basename(changed), `${basename(changed)}.data`].sort());
  });

  it('keys the recipe too: other options make another file', async () => {
    const source = modelCopy('d');
    const plain = await quantizedModelFile(source, 'int8');
    const reduced = await quantizedModelFile(source, 'int8', { reduceRange: true });
    expect(reduced).not.toBe(plain);
  });

  it('shares one rewrite between concurrent callers', async () => {
    const source = modelCopy('e');
    let rewrites = 0;
    const files = await Promise.all(Array.from({ length: 4 }, () => quantizedModelFile(source, 'int8', { onRewrite: () => rewrites++ })));
    expect(new Set(files).size).toBe(1);
    expect(rewrites).toBe(1);
  });

  it('writes under cacheDir when given one', async () => {
    const source = modelCopy('f');
    const cacheDir = join(work, 'elsewhere');
    const file = await quantizedModelFile(source, 'int8', { cacheDir });
    expect(dirname(file)).toBe(cacheDir);
  });

  it('refuses an unknown scheme', async () => {
    await expect(quantizedModelFile(modelCopy('g'), 'int4' as 'int8')).rejects.toThrow(/unknown quantize scheme/);
  });
});
