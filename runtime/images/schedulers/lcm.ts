// LCMScheduler (diffusers scheduling_lcm.py): multistep latent-consistency sampling. Each step
// takes the consistency function's x0 (boundary-condition scalings c_skip, c_out) and, on all but
// the last step, re-noises it to the next timestep with fresh noise.
import { alphaAt, alphaPrediction, ddpmAddNoise, readAlphaKeys, type DdimConfig } from './ddim.ts';
import {
  unscaledInput,
  ConfigReader,
  checkLengths,
  checkStepIndex,
  checkSteps,
  drawNoise,
  linspace,
  map2,
  map3,
  noiseScheduleCumprod,
  type DiffusionSchedule,
} from './schedule.ts';

export interface LcmConfig extends DdimConfig {
  /** The distillation schedule's step count; inference timesteps are picked from it. */
  originalInferenceSteps: number;
  /** Multiplies the timestep in the boundary-condition scalings. */
  timestepScaling: number;
}

/** sigma_data of the consistency boundary condition, fixed at 0.5 in diffusers. */
export const LCM_SIGMA_DATA = 0.5;

/** The keys of a scheduler_config.json LCMScheduler takes, with its diffusers defaults. */
export function parseLcmConfig(raw: Readonly<Record<string, unknown>>): LcmConfig {
  const r = new ConfigReader(raw, 'LCMScheduler');
  const noise = r.noise({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear' });
  const config = {
    ...noise,
    ...readAlphaKeys(r, noise, false), // timestep_spacing and steps_offset are read but unused by LCM
    originalInferenceSteps: r.integer('original_inference_steps', 50, 1),
    timestepScaling: r.number('timestep_scaling', 10, (x) => x > 0, 'positive'),
  };
  if (config.originalInferenceSteps > config.numTrainTimesteps) {
    r.fail('original_inference_steps', `(${config.originalInferenceSteps}) cannot exceed num_train_timesteps (${config.numTrainTimesteps})`);
  }
  return config;
}

/**
 * LCM set_timesteps: the distillation schedule (1..original_steps) * (T // original_steps) - 1,
 * reversed, and `steps` of it at indices floor(linspace(0, original_steps, steps, endpoint=False)).
 */
export function lcmTimesteps(trainSteps: number, originalSteps: number, steps: number): number[] {
  checkSteps(steps, trainSteps);
  if (steps > originalSteps) {
    throw new Error(`steps (${steps}) cannot exceed original_inference_steps (${originalSteps}) for LCMScheduler`);
  }
  const k = Math.floor(trainSteps / originalSteps);
  const origin = Array.from({ length: originalSteps }, (_, i) => (originalSteps - i) * k - 1);
  return linspace(0, originalSteps, steps, false).map((x) => origin[Math.floor(x)]!);
}

/** Boundary-condition scalings at timestep t: c_skip = sd^2 / ((t s)^2 + sd^2), c_out = t s / sqrt((t s)^2 + sd^2). */
export function lcmScalings(timestep: number, timestepScaling: number): { cSkip: number; cOut: number } {
  const scaled = timestep * timestepScaling;
  const sd2 = LCM_SIGMA_DATA ** 2;
  return { cSkip: sd2 / (scaled ** 2 + sd2), cOut: scaled / Math.sqrt(scaled ** 2 + sd2) };
}

/**
 * An LCM schedule of `steps` steps, running timesteps[start:] for img2img (get_timesteps on the
 * LCM timesteps, as StableDiffusionImg2ImgPipeline does with an LCMScheduler; diffusers' dedicated
 * LatentConsistencyModelImg2ImgPipeline instead shrinks the distillation schedule by strength).
 */
export function createLcmSchedule(config: LcmConfig, steps: number, start = 0): DiffusionSchedule {
  const cumprod = noiseScheduleCumprod(config);
  const finalAlpha = config.setAlphaToOne ? 1 : cumprod[0]!;
  const full = lcmTimesteps(config.numTrainTimesteps, config.originalInferenceSteps, steps);
  const timesteps = full.slice(start);
  const range = config.clipSampleRange;
  return {
    timesteps,
    initNoiseSigma: 1,
    scaleModelInput: unscaledInput(timesteps.length),
    step(modelOutput, i, sample, noise) {
      checkStepIndex(i, timesteps.length);
      checkLengths('LCMScheduler.step', sample, modelOutput);
      const t = timesteps[i]!;
      const last = i === timesteps.length - 1;
      const { cSkip, cOut } = lcmScalings(t, config.timestepScaling);
      const predict = alphaPrediction(config.predictionType, alphaAt(cumprod, t));
      const denoised = (x: number, out: number) => {
        const x0raw = predict(x, out)[0];
        const x0 = config.clipSample ? Math.min(range, Math.max(-range, x0raw)) : x0raw;
        return cOut * x0 + cSkip * x;
      };
      // The last step returns the denoised sample itself and draws no noise.
      if (last) return map2('LCMScheduler.step', sample, modelOutput, denoised);
      const prev = timesteps[i + 1]!;
      const alphaPrev = prev >= 0 ? alphaAt(cumprod, prev) : finalAlpha;
      const sa = Math.sqrt(alphaPrev);
      const sb = Math.sqrt(1 - alphaPrev);
      const z = drawNoise(noise, modelOutput.length);
      return map3('LCMScheduler.step', sample, modelOutput, z, (x, out, n) => sa * denoised(x, out) + sb * n);
    },
    addNoise(original, noise, i = 0) {
      checkStepIndex(i, timesteps.length);
      return ddpmAddNoise('LCMScheduler.addNoise', alphaAt(cumprod, timesteps[i]!), original, noise);
    },
  };
}
