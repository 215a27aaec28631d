// The fixture model folders every test run builds (folder name -> preset), and configs over them.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { createRuntime, parseConfig, type ModelTask, type RepositoryConfig, type Runtime } from '../../runtime/index.ts';
import { CACHE_DIR_NAME } from '../../runtime/onnx/quantized-cache.ts';

export const FIXTURES = {
  'tiny-embed': 'tiny-bert-embed',
  'tiny-rerank': 'tiny-bert-rerank',
  'tiny-chat': 'tiny-llama-chat',
  'tiny-mlp': 'tiny-mlp-tensor',
  'tiny-identity': 'tiny-identity-tensor',
  'tiny-sd': 'tiny-sd',
} as const;

export type FixtureName = keyof typeof FIXTURES;

export function fixturesDir(): string {
  return inject('fixturesDir');
}

export function fixturePath(name: FixtureName): string {
  return join(fixturesDir(), name);
}

/** One model of each text task, named after its fixture: the usual server for end-to-end tests. */
export const TEXT_MODELS = [
  { fixture: 'tiny-chat', task: 'text-generation' },
  { fixture: 'tiny-embed', task: 'embeddings' },
  { fixture: 'tiny-rerank', task: 'rerank' },
] as const satisfies ReadonlyArray<{ fixture: FixtureName; task: ModelTask }>;

/** A validated config over the fixtures; `overrides` are per-model config keys (snake_case). */
export function fixtureConfig(models: ReadonlyArray<{ name?: string; fixture: FixtureName; task: ModelTask } & Record<string, unknown>>): RepositoryConfig {
  return parseConfig(
    { models: models.map(({ fixture, name, ...rest }) => ({ name: name ?? fixture, path: fixturePath(fixture), ...rest })) },
    fixturesDir(),
  );
}

/** Copies a built fixture to `dest`, without the rewrites other tests cached beside it. */
export function copyFixture(fixture: FixtureName, dest: string): void {
  cpSync(fixturePath(fixture), dest, { recursive: true, filter: (src) => !src.split(sep).includes(CACHE_DIR_NAME) });
}

/**
 * A runtime over a temporary copy of a fixture, edited first by `edit(dir)` (for model-file
 * variants); the model is named 'm'. Built before the suite's tests, removed after them.
 */
export function useEditedFixture(fixture: FixtureName, task: ModelTask, edit: (dir: string) => void): () => Runtime {
  const dir = mkdtempSync(join(tmpdir(), `ovserve-${fixture}-`));
  let runtime: Runtime;
  beforeAll(async () => {
    copyFixture(fixture, join(dir, 'm'));
    edit(join(dir, 'm'));
    runtime = createRuntime(parseConfig({ models: [{ name: 'm', task, path: 'm' }] }, dir), { log: () => {} });
    await runtime.ready;
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return () => runtime;
}
