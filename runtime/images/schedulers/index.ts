// The scheduler factory: a scheduler_config.json object and a step count give one request's
// DiffusionSchedule, chosen by `_class_name`; an unsupported class or value throws, naming it.
import { createDdimSchedule, parseDdimConfig } from './ddim.ts';
import { createEulerAncestralSchedule, parseEulerAncestralConfig } from './euler-ancestral.ts';
import { createEulerSchedule, parseEulerConfig } from './euler.ts';
import { createLcmSchedule, parseLcmConfig } from './lcm.ts';
import { readClassName, strengthStart, type DiffusionSchedule } from './schedule.ts';

export type { DiffusionSchedule } from './schedule.ts';

type Factory = (raw: Readonly<Record<string, unknown>>, steps: number, start: number) => DiffusionSchedule;

const FACTORIES: Readonly<Record<string, Factory>> = {
  EulerDiscreteScheduler: (raw, steps, start) => createEulerSchedule(parseEulerConfig(raw), steps, start),
  EulerAncestralDiscreteScheduler: (raw, steps, start) =>
    createEulerAncestralSchedule(parseEulerAncestralConfig(raw), steps, start),
  DDIMScheduler: (raw, steps, start) => createDdimSchedule(parseDdimConfig(raw), steps, start),
  LCMScheduler: (raw, steps, start) => createLcmSchedule(parseLcmConfig(raw), steps, start),
};

/** The `_class_name` values createScheduler accepts. */
export const SUPPORTED_SCHEDULERS: readonly string[] = Object.keys(FACTORIES);

/**
 * One request's schedule. `steps` is the length of the full schedule (diffusers'
 * num_inference_steps); with `options.strength` (img2img / inpainting, 0 < strength <= 1) only its
 * last min(floor(steps * strength), steps) steps run, starting from addNoise at the first of them.
 * To run a model whose config names another class (e.g. SD 1.5's PNDMScheduler), pass
 * `{ ...config, _class_name: 'EulerDiscreteScheduler' }`, as diffusers' from_config does.
 */
export function createScheduler(config: unknown, steps: number, options: { strength?: number } = {}): DiffusionSchedule {
  const { raw, className } = readClassName(config);
  const factory = Object.hasOwn(FACTORIES, className) ? FACTORIES[className] : undefined;
  if (!factory) {
    throw new Error(
      `scheduler_config.json "_class_name" ${JSON.stringify(className)} is not supported; supported: ${SUPPORTED_SCHEDULERS.join(', ')}`,
    );
  }
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be an integer >= 1, got ${steps}`);
  return factory(raw, steps, strengthStart(steps, options.strength));
}
