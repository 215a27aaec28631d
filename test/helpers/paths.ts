// Where tests find the shared folder beside the project and the models they build.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = resolve(PROJECT_DIR, '..', 'shared');
export const SHARED_MODELS_DIR = join(SHARED_DIR, 'models');
export const sharedModelsAvailable = existsSync(join(SHARED_MODELS_DIR, 'REFERENCE.json'));
