// EulerAncestralDiscreteScheduler (diffusers scheduling_euler_ancestral_discrete.py): an Euler
// step down to sigma_down, then fresh noise of size sigma_up, drawn on every step (the last too,
// where sigma_up is 0, so a seeded generator advances as diffusers' does).
import { eulerDenoiser, eulerScaleInput, eulerWindow } from './euler.ts';
import {
  ConfigReader,
  checkLengths,
  drawNoise,
  map2,
  map3,
  type DiffusionSchedule,
  type NoiseConfig,
  type TimestepSpacing,
} from './schedule.ts';

export interface EulerAncestralConfig extends NoiseConfig {
  /** diffusers raises NotImplementedError for 'sample' here. */
  predictionType: 'epsilon' | 'v_prediction';
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** The keys of a scheduler_config.json EulerAncestralDiscreteScheduler takes, with its defaults. */
export function parseEulerAncestralConfig(raw: Readonly<Record<string, unknown>>): EulerAncestralConfig {
  const r = new ConfigReader(raw, 'EulerAncestralDiscreteScheduler');
  return {
    ...r.noise({ numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' }),
    predictionType: r.oneOf('prediction_type', ['epsilon', 'v_prediction'], 'epsilon', ['sample']),
    timestepSpacing: r.spacing('linspace'),
    stepsOffset: r.integer('steps_offset', 0, 0),
  };
}

/**
 * The ancestral split of a step from sigma to sigmaNext:
 * sigma_up = sqrt(sigmaNext^2 * (sigma^2 - sigmaNext^2) / sigma^2), sigma_down = sqrt(sigmaNext^2 - sigma_up^2).
 */
export function ancestralSigmas(sigma: number, sigmaNext: number): { sigmaUp: number; sigmaDown: number } {
  const sigmaUp = Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2);
  // max(0, .) only guards against a rounding negative; the difference is >= 0 in exact arithmetic.
  const sigmaDown = Math.sqrt(Math.max(0, sigmaNext ** 2 - sigmaUp ** 2));
  return { sigmaUp, sigmaDown };
}

/** An Euler-ancestral schedule of `steps` steps, from index `start` for img2img (as Euler). */
export function createEulerAncestralSchedule(config: EulerAncestralConfig, steps: number, start = 0): DiffusionSchedule {
  const { timesteps, sigmas, sigmaAt, initNoiseSigma } = eulerWindow(config, steps, 'zero', start);
  return {
    timesteps,
    initNoiseSigma,
    scaleModelInput: (sample, i) => eulerScaleInput(sample, sigmaAt(i)),
    step(modelOutput, i, sample, noise) {
      const sigma = sigmaAt(i);
      const { sigmaUp, sigmaDown } = ancestralSigmas(sigma, sigmas[i + 1]!);
      const denoise = eulerDenoiser(config.predictionType, sigma);
      const dt = sigmaDown - sigma;
      checkLengths('EulerAncestralDiscreteScheduler.step', sample, modelOutput); // before the noise is drawn
      const z = drawNoise(noise, modelOutput.length);
      return map3('EulerAncestralDiscreteScheduler.step', sample, modelOutput, z, (x, out, n) => {
        const derivative = (x - denoise(x, out)) / sigma;
        return x + derivative * dt + n * sigmaUp;
      });
    },
    addNoise(original, noise, i = 0) {
      const sigma = sigmaAt(i);
      return map2('EulerAncestralDiscreteScheduler.addNoise', original, noise, (x, n) => x + n * sigma);
    },
  };
}
