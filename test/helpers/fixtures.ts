// The fixture model folders every test run builds (folder name -> preset), and configs over them.
import { inject } from 'vitest';
import { join } from 'node:path';
import { parseConfig, type RepositoryConfig } from '../../runtime/index.ts';

export const FIXTURES = {
  'tiny-embed': 'tiny-bert-embed',
  'tiny-rerank': 'tiny-bert-rerank',
  'tiny-chat': 'tiny-llama-chat',
} as const;

export type FixtureName = keyof typeof FIXTURES;

export function fixturesDir(): string {
  return inject('fixturesDir');
}

export function fixturePath(name: FixtureName): string {
  return join(fixturesDir(), name);
}

/** A validated config over the fixtures; `overrides` are per-model config keys (snake_case). */
export function fixtureConfig(models: Array<{ name?: string; fixture: FixtureName; task: 'embeddings' | 'rerank' | 'text-generation' } & Record<string, unknown>>): RepositoryConfig {
  return parseConfig(
    { models: models.map(({ fixture, name, ...rest }) => ({ name: name ?? fixture, path: fixturePath(fixture), ...rest })) },
    fixturesDir(),
  );
}
