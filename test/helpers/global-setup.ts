// Builds the tiny fixture models once per test run, into a fresh temporary folder, and the server
// as JavaScript (`npm run build`, what `npm start` runs) once, before any test starts it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildPreset } from '../../models/build.ts';
import { FIXTURES } from './fixtures.ts';
import { PROJECT_DIR } from './paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    fixturesDir: string;
  }
}

export default function setup(project: TestProject) {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: PROJECT_DIR, stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-fixtures-'));
  for (const [folder, preset] of Object.entries(FIXTURES)) buildPreset(preset, join(dir, folder));
  project.provide('fixturesDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
