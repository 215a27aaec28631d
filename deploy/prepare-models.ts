// One-shot model preparation for a shared models volume (compose's `models` service): builds the
// fixtures that the config's `build` keys name when their folders are missing, then exits, so the
// route containers can mount the volume read-only and never build concurrently.
import { loadConfigFile } from '../runtime/index.ts';
import { ensureFixtures } from '../models/ensure.ts';

const file = process.env.OVSERVE_CONFIG ?? '/models/config.json';
try {
  const config = loadConfigFile(file);
  ensureFixtures(config);
  console.log(`${file}: ${config.models.length} model(s) ready to serve`);
} catch (err) {
  console.error(`prepare-models: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
