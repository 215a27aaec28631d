// `"quantize": "int8"` in the config: the decoder loads its int8 rewrite (cached beside the model)
// and generates what the fp32 model generates, near enough for a random-weight fixture.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, parseConfig, type Runtime } from '../../runtime/index.ts';
import { copyFixture, fixturePath } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

describe('quantize: int8', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-int8-'));
  const lines: string[] = [];
  let runtime: Runtime;
  beforeAll(async () => {
    copyFixture('tiny-chat', join(dir, 'chat'));
    runtime = createRuntime(
      parseConfig(
        {
          models: [
            { name: 'fp32', task: 'text-generation', path: fixturePath('tiny-chat') },
            { name: 'int8', task: 'text-generation', path: 'chat', quantize: 'int8' },
            { name: 'q4', task: 'text-generation', path: 'chat', quantize: 'q4' },
          ],
        },
        dir,
      ),
      { log: (line) => lines.push(line) },
    );
    await runtime.ready;
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rewrites once into the cache and generates close to fp32', async () => {
    expect(lines.some((l) => /int8: \d+ MatMul weights in 8 bits, 1 tied head in 8 bits/.test(l))).toBe(true);
    expect(existsSync(join(dir, 'chat', 'onnx', '.ovserve-cache')) || readdirSync(join(dir, 'chat')).includes('.ovserve-cache')).toBe(true);
    const ask = (model: string) => collect(runtime.generate({ model, prompts: [{ text: 'The capital of France is' }], n: 1, maxTokens: 16, temperature: 0 }));
    const [a, b] = [(await ask('fp32')).ids[0]!, (await ask('int8')).ids[0]!];
    expect(b).toHaveLength(16);
    // Greedy decoding of a random-weight model: the first tokens agree, later ones may drift apart.
    expect(b.slice(0, 4)).toEqual(a.slice(0, 4));
  });

  it('q4: rewrites into MatMulNBits (a tied head in int8) and generates close to fp32', async () => {
    expect(lines.some((l) => /q4: \d+ MatMul weights in 4 bits, 1 tied head in 8 bits/.test(l))).toBe(true);
    const ask = (model: string) => collect(runtime.generate({ model, prompts: [{ text: 'The capital of France is' }], n: 1, maxTokens: 16, temperature: 0 }));
    const [a, b] = [(await ask('fp32')).ids[0]!, (await ask('q4')).ids[0]!];
    expect(b).toHaveLength(16);
    // Free-running greedy on random weights drifts sooner in 4 bits; test/onnx/fused-llama.test.ts
    // measures q4's accuracy teacher-forced (top-1 agreement with fp32 over 128 steps).
    expect(b.slice(0, 3)).toEqual(a.slice(0, 3));
  });

  it('refuses int8 with the OpenVINO backend at load, saying what to do instead', async () => {
    const bad = createRuntime(parseConfig({ models: [{ name: 'x', task: 'text-generation', path: fixturePath('tiny-chat'), quantize: 'int8', backend: 'openvino' }] }, dir), { log: () => {} });
    await expect(bad.ready).rejects.toThrow(/optimum-cli --weight-format int8/);
    await bad.close();
  });
});
