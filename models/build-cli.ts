// npm run build:models -- <preset> <dir>: writes one fixture model folder (or lists presets).
import { buildPreset } from './build.ts';
import { PRESETS } from './presets.ts';

const [preset, dir] = process.argv.slice(2);
if (!preset || !dir) {
  console.log('usage: npm run build:models -- <preset> <dir>\npresets:');
  for (const [name, p] of Object.entries(PRESETS)) console.log(`  ${name.padEnd(20)} ${p.description}`);
  process.exit(preset ? 1 : 0);
}
buildPreset(preset, dir);
console.log(`built ${preset} into ${dir}`);
