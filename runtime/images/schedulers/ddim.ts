// DDIMScheduler with eta = 0 (diffusers scheduling_ddim.py): the deterministic DDIM update
// x_prev = sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps, with the previous timestep t - T // steps.
import {
  unscaledInput,
  ConfigReader,
  checkStepIndex,
  checkSteps,
  map2,
  noiseScheduleCumprod,
  spacedTimesteps,
  type DiffusionSchedule,
  type NoiseConfig,
  type TimestepSpacing,
} from './schedule.ts';

export type AlphaPrediction = 'epsilon' | 'sample' | 'v_prediction';

export interface DdimConfig extends NoiseConfig {
  predictionType: AlphaPrediction;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  /** The alpha_prod before the first train timestep: 1, or alphas_cumprod[0]. */
  setAlphaToOne: boolean;
  clipSample: boolean;
  clipSampleRange: number;
}

/**
 * The keys DDIM and LCM share (DDIM's defaults given by the caller): prediction type, x0 clipping,
 * set_alpha_to_one, steps_offset, spacing; dynamic thresholding is refused. Zero-SNR with epsilon
 * is refused too: x0 = (x - sqrt(1 - a) eps) / sqrt(a) divides by zero at the last train timestep.
 */
export function readAlphaKeys(r: ConfigReader, noise: NoiseConfig, clipDefault: boolean) {
  const predictionType = r.oneOf<AlphaPrediction>('prediction_type', ['epsilon', 'sample', 'v_prediction'], 'epsilon');
  if (noise.rescaleBetasZeroSnr && predictionType === 'epsilon') {
    r.fail('rescale_betas_zero_snr', 'with prediction_type "epsilon" is not supported (x0 is undefined at zero SNR)');
  }
  r.refuseUnless('thresholding', false, 'dynamic thresholding is not implemented');
  return {
    predictionType,
    clipSample: r.bool('clip_sample', clipDefault),
    clipSampleRange: r.number('clip_sample_range', 1, (x) => x > 0, 'positive'),
    setAlphaToOne: r.bool('set_alpha_to_one', true),
    stepsOffset: r.integer('steps_offset', 0, 0),
    timestepSpacing: r.spacing('leading'),
  };
}

/** The keys of a scheduler_config.json DDIMScheduler takes, with its diffusers defaults. */
export function parseDdimConfig(raw: Readonly<Record<string, unknown>>): DdimConfig {
  const r = new ConfigReader(raw, 'DDIMScheduler');
  const noise = r.noise({ numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
  return { ...noise, ...readAlphaKeys(r, noise, true) };
}

/**
 * x0 and eps from one element of the model output, in float64, with a = alpha_prod_t:
 * epsilon x0 = (x - sqrt(1 - a) eps) / sqrt(a); sample eps = (x - sqrt(a) x0) / sqrt(1 - a);
 * v-prediction x0 = sqrt(a) x - sqrt(1 - a) v, eps = sqrt(a) v + sqrt(1 - a) x.
 */
export function alphaPrediction(prediction: AlphaPrediction, alphaProd: number): (x: number, out: number) => [x0: number, eps: number] {
  const sa = Math.sqrt(alphaProd);
  const sb = Math.sqrt(1 - alphaProd);
  switch (prediction) {
    case 'epsilon':
      return (x, eps) => [(x - sb * eps) / sa, eps];
    case 'sample':
      return (x, x0) => [x0, (x - sa * x0) / sb];
    case 'v_prediction':
      return (x, v) => [sa * x - sb * v, sa * v + sb * x];
  }
}

/** The train alpha_prod at a timestep, refusing one outside the train schedule. */
export function alphaAt(cumprod: Float64Array, t: number): number {
  const a = cumprod[t];
  if (a === undefined || !Number.isInteger(t)) {
    throw new Error(`timestep ${t} is outside the ${cumprod.length} train timesteps (check steps_offset)`);
  }
  return a;
}

/** add_noise (DDPM): sqrt(a_t) * x + sqrt(1 - a_t) * noise. */
export function ddpmAddNoise(what: string, alphaProd: number, original: Float32Array, noise: Float32Array): Float32Array {
  const sa = Math.sqrt(alphaProd);
  const sb = Math.sqrt(1 - alphaProd);
  return map2(what, original, noise, (x, n) => sa * x + sb * n);
}

/** A DDIM schedule of `steps` steps, running timesteps[start:] for img2img. */
export function createDdimSchedule(config: DdimConfig, steps: number, start = 0): DiffusionSchedule {
  checkSteps(steps, config.numTrainTimesteps);
  const cumprod = noiseScheduleCumprod(config);
  const finalAlpha = config.setAlphaToOne ? 1 : cumprod[0]!;
  const full = spacedTimesteps(config.timestepSpacing, config.numTrainTimesteps, steps, config.stepsOffset, 'round');
  full.forEach((t) => alphaAt(cumprod, t));
  const timesteps = full.slice(start);
  // diffusers steps back by the leading stride whatever the spacing; below 0 is the final alpha.
  const stride = Math.floor(config.numTrainTimesteps / steps);
  const range = config.clipSampleRange;
  return {
    timesteps,
    initNoiseSigma: 1,
    scaleModelInput: unscaledInput(timesteps.length),
    step(modelOutput, i, sample) {
      checkStepIndex(i, timesteps.length);
      const t = timesteps[i]!;
      const prev = t - stride;
      const alphaPrev = prev >= 0 ? alphaAt(cumprod, prev) : finalAlpha;
      const predict = alphaPrediction(config.predictionType, alphaAt(cumprod, t));
      const sPrev = Math.sqrt(alphaPrev);
      const sDir = Math.sqrt(1 - alphaPrev);
      return map2('DDIMScheduler.step', sample, modelOutput, (x, out) => {
        const [x0raw, eps] = predict(x, out);
        // eps stays the unclipped prediction (use_clipped_model_output = false).
        const x0 = config.clipSample ? Math.min(range, Math.max(-range, x0raw)) : x0raw;
        return sPrev * x0 + sDir * eps;
      });
    },
    addNoise(original, noise, i = 0) {
      checkStepIndex(i, timesteps.length);
      return ddpmAddNoise('DDIMScheduler.addNoise', alphaAt(cumprod, timesteps[i]!), original, noise);
    },
  };
}
