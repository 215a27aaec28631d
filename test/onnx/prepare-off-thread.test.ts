// preparedModelFileOffThread: the rewrite runs in a child process (so the server never keeps its
// peak memory), gives the file the in-process call gives, passes its log lines on, and reports
// its failures.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { preparedModelFile, preparedModelFileOffThread } from '../../runtime/onnx/prepare.ts';
import { NotCachedError } from '../../runtime/onnx/quantized-cache.ts';
import { copyFixture } from '../helpers/fixtures.ts';

describe('preparedModelFileOffThread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-offthread-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rewrites in a child process into the file the in-process call then finds cached', async () => {
    copyFixture('tiny-chat', join(dir, 'chat'));
    const source = join(dir, 'chat', 'onnx', 'model.onnx');
    const config = JSON.parse(readFileSync(join(dir, 'chat', 'config.json'), 'utf8')) as Record<string, unknown>;
    const lines: string[] = [];
    // Looking only, nothing cached yet: it says so (the off-thread call then starts the process).
    await expect(preparedModelFile(source, { quantize: 'q4', fuse: config, decoder: true, log: () => {}, onlyIfCached: true })).rejects.toBeInstanceOf(NotCachedError);
    const file = await preparedModelFileOffThread(source, { quantize: 'q4', fuse: config, decoder: true, log: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fuse: rebuilt as a fused decoder, q4: \d+ MatMul weights in 4 bits, 1 tied head in 8 bits \(MatMulNBits\), in \d+ ms -> /);
    const again: string[] = [];
    expect(await preparedModelFile(source, { quantize: 'q4', fuse: config, decoder: true, log: (l) => again.push(l) })).toBe(file);
    expect(again).toEqual([]);
    expect(await preparedModelFile(source, { quantize: 'q4', fuse: config, decoder: true, log: () => {}, onlyIfCached: true })).toBe(file);
    expect(await preparedModelFileOffThread(source, { quantize: 'q4', fuse: config, decoder: true, log: (l) => again.push(l) })).toBe(file);
    expect(again).toEqual([]);
  });

  it('rejects with the child\'s error', async () => {
    await expect(preparedModelFileOffThread(join(dir, 'missing.onnx'), { quantize: 'int8', decoder: false, log: () => {} })).rejects.toThrow(/ENOENT|no such file/);
  });
});
