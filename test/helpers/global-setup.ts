// Builds the tiny fixture models once per test run, into a fresh temporary folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildPreset } from '../../models/build.ts';
import { FIXTURES } from './fixtures.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    fixturesDir: string;
  }
}

export default function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-fixtures-'));
  for (const [folder, preset] of Object.entries(FIXTURES)) buildPreset(preset, join(dir, folder));
  project.provide('fixturesDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
