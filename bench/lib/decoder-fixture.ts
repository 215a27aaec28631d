// The decoder benchmarks' model: the SmolLM2-135M-shaped fixture, built on first use.
import { join } from 'node:path';
import { buildPreset, isBuilt } from '../../models/build.ts';

export const WORK_DIR = join(process.cwd(), 'models', '.built', 'bench');
export const PRESET = 'smollm2-135m-chat';
export const MODEL_DIR = join(WORK_DIR, PRESET);

export function ensureDecoderFixture(): void {
  if (isBuilt(MODEL_DIR)) return;
  console.log('building the SmolLM2-135M-shaped fixture (about 540 MB)…');
  buildPreset(PRESET, MODEL_DIR);
}
