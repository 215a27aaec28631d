// EulerDiscreteScheduler (diffusers scheduling_euler_discrete.py, s_churn = 0): the first-order
// Euler ODE step on Karras sigmas, x_next = x + (sigma_next - sigma) * (x - x0) / sigma.
import {
  ConfigReader,
  checkStepIndex,
  checkSteps,
  interpIndex,
  map2,
  noiseScheduleCumprod,
  scale,
  spacedTimesteps,
  trainSigmas,
  type DiffusionSchedule,
  type NoiseConfig,
  type TimestepSpacing,
} from './schedule.ts';

export type EulerPrediction = 'epsilon' | 'v_prediction' | 'sample';

export interface EulerConfig extends NoiseConfig {
  predictionType: EulerPrediction;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  /** The sigma after the last step: 0, or the smallest train sigma. */
  finalSigmasType: 'zero' | 'sigma_min';
}

/** The Euler keys of a scheduler_config.json, with diffusers' EulerDiscreteScheduler defaults. */
export function parseEulerConfig(raw: Readonly<Record<string, unknown>>, className = 'EulerDiscreteScheduler'): EulerConfig {
  const r = new ConfigReader(raw, className);
  const noise = r.noise({ numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
  // 'original_sample' is diffusers' backwards-compatible name for 'sample'.
  const prediction = r.oneOf('prediction_type', ['epsilon', 'v_prediction', 'sample', 'original_sample'], 'epsilon');
  r.oneOf('interpolation_type', ['linear'], 'linear', ['log_linear']);
  r.refuseUnless('use_karras_sigmas', false, 'Karras sigmas are not implemented');
  r.refuseUnless('use_exponential_sigmas', false, 'exponential sigmas are not implemented');
  r.refuseUnless('use_beta_sigmas', false, 'beta sigmas are not implemented');
  // sigma_min / sigma_max only bound the Karras/exponential/beta conversions refused above.
  r.optionalNumber('sigma_min');
  r.optionalNumber('sigma_max');
  const timestepType = r.oneOf('timestep_type', ['discrete', 'continuous'], 'discrete');
  if (timestepType === 'continuous' && prediction === 'v_prediction') {
    r.fail('timestep_type', '"continuous" with v_prediction (EDM timesteps 0.25 * log(sigma)) is not supported');
  }
  return {
    ...noise,
    predictionType: prediction === 'original_sample' ? 'sample' : prediction,
    timestepSpacing: r.spacing('linspace'),
    stepsOffset: r.integer('steps_offset', 0, 0),
    finalSigmasType: r.oneOf('final_sigmas_type', ['zero', 'sigma_min'], 'zero'),
  };
}

/** The Euler sigmas of a schedule: train sigmas interpolated at the timesteps, then the final sigma. */
export interface EulerSigmas {
  timesteps: number[];
  /** One per timestep plus the final one. */
  sigmas: number[];
  initNoiseSigma: number;
}

/**
 * set_timesteps: the timesteps of the spacing (float32, fractional for linspace), sigmas by
 * np.interp over the train sigmas (clamped at the ends), and init_noise_sigma = max sigma for
 * linspace/trailing, sqrt(max^2 + 1) for leading. Shared with Euler ancestral (final sigma 0).
 */
export function eulerSigmas(
  config: NoiseConfig & { timestepSpacing: TimestepSpacing; stepsOffset: number },
  steps: number,
  finalSigma: 'zero' | 'sigma_min',
): EulerSigmas {
  checkSteps(steps, config.numTrainTimesteps);
  const cumprod = noiseScheduleCumprod(config);
  // Zero-SNR: close to 0 without being 0, so the first sigma is finite (fp16's smallest subnormal).
  if (config.rescaleBetasZeroSnr) cumprod[cumprod.length - 1] = 2 ** -24;
  const train = trainSigmas(cumprod);
  const timesteps = spacedTimesteps(config.timestepSpacing, config.numTrainTimesteps, steps, config.stepsOffset, 'float32');
  const last = finalSigma === 'zero' ? 0 : train[0]!;
  const sigmas = [...timesteps.map((t) => interpIndex(t, train)), last];
  const maxSigma = Math.max(...sigmas);
  const initNoiseSigma = config.timestepSpacing === 'leading' ? Math.sqrt(maxSigma * maxSigma + 1) : maxSigma;
  return { timesteps, sigmas, initNoiseSigma };
}

/**
 * x0 from one element of the model output at sigma, in float64: epsilon x - sigma * eps;
 * v-prediction c_out * v + c_skip * x with c_out = -sigma / sqrt(sigma^2 + 1), c_skip = 1 / (sigma^2 + 1);
 * sample the output itself.
 */
export function eulerDenoiser(prediction: EulerPrediction, sigma: number): (x: number, out: number) => number {
  switch (prediction) {
    case 'epsilon':
      return (x, eps) => x - sigma * eps;
    case 'v_prediction': {
      const cSkip = 1 / (sigma * sigma + 1);
      const cOut = -sigma / Math.sqrt(sigma * sigma + 1);
      return (x, v) => cOut * v + cSkip * x;
    }
    case 'sample':
      return (_x, x0) => x0;
  }
}

/**
 * The part of the Euler sigmas a schedule runs (from `start` for img2img), with the checked
 * lookup of step i's sigma. Shared with Euler ancestral.
 */
export function eulerWindow(config: Parameters<typeof eulerSigmas>[0], steps: number, finalSigma: 'zero' | 'sigma_min', start: number) {
  const full = eulerSigmas(config, steps, finalSigma);
  const timesteps = full.timesteps.slice(start);
  const sigmas = full.sigmas.slice(start);
  const sigmaAt = (i: number) => {
    checkStepIndex(i, timesteps.length);
    return sigmas[i]!;
  };
  return { timesteps, sigmas, sigmaAt, initNoiseSigma: full.initNoiseSigma };
}

/** UNet input at sigma: sample / sqrt(sigma^2 + 1). */
export function eulerScaleInput(sample: Float32Array, sigma: number): Float32Array {
  return scale(1 / Math.sqrt(sigma * sigma + 1), sample);
}

/**
 * An Euler schedule of `steps` steps. With `start` > 0 (img2img, from strengthStart) it runs
 * timesteps[start:] with sigmas[start:], and addNoise (at step 0) uses sigmas[start].
 */
export function createEulerSchedule(config: EulerConfig, steps: number, start = 0): DiffusionSchedule {
  const { timesteps, sigmas, sigmaAt, initNoiseSigma } = eulerWindow(config, steps, config.finalSigmasType, start);
  return {
    timesteps,
    initNoiseSigma,
    scaleModelInput: (sample, i) => eulerScaleInput(sample, sigmaAt(i)),
    step(modelOutput, i, sample) {
      const sigma = sigmaAt(i);
      const dt = sigmas[i + 1]! - sigma;
      const denoise = eulerDenoiser(config.predictionType, sigma);
      // x + d * dt with the ODE derivative d = (x - x0) / sigma.
      return map2('EulerDiscreteScheduler.step', sample, modelOutput, (x, out) => x + ((x - denoise(x, out)) / sigma) * dt);
    },
    addNoise(original, noise, i = 0) {
      const sigma = sigmaAt(i);
      return map2('EulerDiscreteScheduler.addNoise', original, noise, (x, n) => x + n * sigma);
    },
  };
}
