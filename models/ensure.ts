// Builds the fixture models a config asks for (`build` key) when their folders are missing.
import type { RepositoryConfig } from '../runtime/index.ts';
import { buildPreset, isBuilt } from './build.ts';

export function ensureFixtures(config: RepositoryConfig, log: (line: string) => void = console.log): void {
  for (const entry of config.models) {
    if (!entry.build || isBuilt(entry.path)) continue;
    const started = Date.now();
    buildPreset(entry.build, entry.path);
    log(`${entry.name}: built fixture "${entry.build}" into ${entry.path} in ${Date.now() - started} ms`);
  }
}
