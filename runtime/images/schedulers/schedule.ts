// Shared pieces of the diffusion schedulers, as diffusers computes them: the beta schedules and
// alphas_cumprod (float64), timestep selection for each `timestep_spacing` (with numpy's own
// arange/linspace/round quirks), img2img strength, and the reading of a scheduler_config.json.
// Formulas follow huggingface/diffusers src/diffusers/schedulers/scheduling_{euler_discrete,
// euler_ancestral_discrete,ddim,lcm}.py and pipeline_stable_diffusion_img2img.py (get_timesteps).

/** One request's denoising schedule; all arrays are NCHW latents flattened, float32. Pure: no method mutates its inputs. */
export interface DiffusionSchedule {
  /** The model timesteps, one per step, in order (the values fed to the UNet's `timestep` input). */
  readonly timesteps: readonly number[];
  /** Initial Gaussian latents are multiplied by this (Euler: sigma_max for linspace/trailing and sqrt(sigma_max^2 + 1) for leading, as diffusers does; DDIM/LCM: 1). */
  readonly initNoiseSigma: number;
  /** The UNet input for step i (Euler: sample / sqrt(sigma^2 + 1); DDIM/LCM: the sample unchanged). */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /** The next sample from the model output at step i. `noise(n)` gives n standard-normal floats from the request's own seeded generator (ancestral and LCM draw from it; others never call it). */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise: (n: number) => Float32Array): Float32Array;
  /**
   * img2img: the starting latents for this schedule from clean latents and noise (diffusers' add_noise
   * at the first timestep). Inpainting with a plain UNet also re-noises the known region after step i
   * to timesteps[i + 1]: `stepIndex` (default 0) picks that timestep.
   */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex?: number): Float32Array;
}

// ---------------------------------------------------------------------------------------------
// numpy semantics the timestep formulas depend on

/** np.round: half to even (np.round(812.5) is 812, where Math.round gives 813). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.linspace(start, stop, num, endpoint): i * step + start, the endpoint set exactly. */
export function linspace(start: number, stop: number, num: number, endpoint = true): number[] {
  const div = endpoint ? num - 1 : num;
  const delta = stop - start;
  const step = div > 0 ? delta / div : NaN;
  // numpy multiplies by delta alone when div is 0 (a single point): the result is [start].
  const out = Array.from({ length: num }, (_, i) => (div > 0 ? i * step : i * delta) + start);
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** np.arange(start, stop, step) for a float step: ceil((stop - start) / step) values, start + i * delta. */
export function arange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  // numpy fills [start, start + step] and then start + i * (second - first).
  const delta = start + step - start;
  return Array.from({ length }, (_, i) => (i === 0 ? start : i === 1 ? start + step : start + i * delta));
}

/** np.interp(x, [0, 1, ..., n-1], values): linear between neighbours, clamped at both ends. */
export function interpIndex(x: number, values: ArrayLike<number>): number {
  const last = values.length - 1;
  if (x <= 0) return values[0]!;
  if (x >= last) return values[last]!;
  const j = Math.floor(x);
  const lo = values[j]!;
  if (x === j) return lo;
  return (values[j + 1]! - lo) * (x - j) + lo;
}

// ---------------------------------------------------------------------------------------------
// Noise schedule

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/** betas_for_alpha_bar with the cosine alpha_bar (GLIDE): min(1 - abar(t2) / abar(t1), maxBeta). */
export function betasForAlphaBar(trainSteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Float64Array.from({ length: trainSteps }, (_, i) =>
    Math.min(1 - alphaBar((i + 1) / trainSteps) / alphaBar(i / trainSteps), maxBeta),
  );
}

/**
 * The betas of a beta schedule: linear is linspace(start, end, T); scaled_linear (latent diffusion)
 * is linspace(sqrt(start), sqrt(end), T)^2; squaredcos_cap_v2 is the cosine alpha_bar schedule.
 */
export function betas(schedule: BetaSchedule, betaStart: number, betaEnd: number, trainSteps: number): Float64Array {
  switch (schedule) {
    case 'linear':
      return Float64Array.from(linspace(betaStart, betaEnd, trainSteps));
    case 'scaled_linear':
      return Float64Array.from(linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), trainSteps), (b) => b * b);
    case 'squaredcos_cap_v2':
      return betasForAlphaBar(trainSteps);
  }
}

/** rescale_zero_terminal_snr (arXiv 2305.08891, Algorithm 1): shift sqrt(alphas_cumprod) so the last is 0, scale so the first is kept. */
export function rescaleZeroTerminalSnr(betasIn: Float64Array): Float64Array {
  const sqrtBar = Float64Array.from(alphasCumprod(betasIn), Math.sqrt);
  const first = sqrtBar[0]!;
  const last = sqrtBar[sqrtBar.length - 1]!;
  const bar = sqrtBar.map((s) => ((s - last) * (first / (first - last))) ** 2);
  return bar.map((a, i) => 1 - (i === 0 ? a : a / bar[i - 1]!));
}

/** cumprod(1 - betas), in float64. */
export function alphasCumprod(betasIn: Float64Array): Float64Array {
  const out = new Float64Array(betasIn.length);
  let product = 1;
  for (let i = 0; i < betasIn.length; i++) {
    product *= 1 - betasIn[i]!;
    out[i] = product;
  }
  return out;
}

/** The noise-schedule keys every supported scheduler shares. */
export interface NoiseConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  rescaleBetasZeroSnr: boolean;
}

/** alphas_cumprod of a noise config (zero-SNR rescaling applied when configured). */
export function noiseScheduleCumprod(config: NoiseConfig): Float64Array {
  const raw = betas(config.betaSchedule, config.betaStart, config.betaEnd, config.numTrainTimesteps);
  return alphasCumprod(config.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(raw) : raw);
}

/** Karras sigma per train timestep: sqrt((1 - alphas_cumprod) / alphas_cumprod). */
export function trainSigmas(cumprod: Float64Array): Float64Array {
  return cumprod.map((a) => Math.sqrt((1 - a) / a));
}

// ---------------------------------------------------------------------------------------------
// Timesteps

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['linspace', 'leading', 'trailing'];

/** leading: (arange(steps) * (T // steps)).round()[::-1] + steps_offset. */
export function leadingTimesteps(trainSteps: number, steps: number, stepsOffset: number): number[] {
  const ratio = Math.floor(trainSteps / steps);
  return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + stepsOffset);
}

/**
 * trailing: arange(T, 0, -T / steps).round() - 1. For some step counts (61, 103, ... of 1000)
 * numpy's float arange yields one value too many (a final -1 timestep in diffusers); only the
 * first `steps` are kept, which equal diffusers' first `steps`.
 */
export function trailingTimesteps(trainSteps: number, steps: number): number[] {
  return arange(trainSteps, 0, -trainSteps / steps)
    .slice(0, steps)
    .map((t) => roundHalfEven(t) - 1);
}

/** linspace: linspace(0, T - 1, steps)[::-1], unrounded (the caller rounds or casts as its scheduler does). */
export function linspaceTimesteps(trainSteps: number, steps: number): number[] {
  return linspace(0, trainSteps - 1, steps).reverse();
}

/**
 * The timesteps of a spacing. `linspace` is where schedulers differ: DDIM rounds to integers,
 * Euler keeps the float32 values (fractional timesteps, fed to the UNet as they are).
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  trainSteps: number,
  steps: number,
  stepsOffset: number,
  linspaceValues: 'round' | 'float32',
): number[] {
  switch (spacing) {
    case 'leading':
      return leadingTimesteps(trainSteps, steps, stepsOffset);
    case 'trailing':
      return trailingTimesteps(trainSteps, steps);
    case 'linspace':
      return linspaceTimesteps(trainSteps, steps).map(linspaceValues === 'round' ? roundHalfEven : Math.fround);
  }
}

/** A step count: an integer from 1 to the train timesteps. */
export function checkSteps(steps: number, trainSteps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be an integer >= 1, got ${steps}`);
  if (steps > trainSteps) throw new Error(`steps (${steps}) cannot exceed num_train_timesteps (${trainSteps})`);
}

/**
 * img2img / inpainting (StableDiffusionImg2ImgPipeline.get_timesteps): of a `steps`-step schedule
 * only the last min(floor(steps * strength), steps) run; returns t_start, the index of the first.
 */
export function strengthStart(steps: number, strength: number | undefined): number {
  if (strength === undefined) return 0;
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength <= 0 || strength > 1) {
    throw new Error(`strength must be a number with 0 < strength <= 1, got ${String(strength)}`);
  }
  const initTimestep = Math.min(Math.floor(steps * strength), steps);
  if (initTimestep < 1) {
    throw new Error(`strength ${strength} with ${steps} steps leaves no denoising step (steps * strength < 1)`);
  }
  return Math.max(steps - initTimestep, 0);
}

// ---------------------------------------------------------------------------------------------
// Elementwise arithmetic (float64 per element, float32 out)

/** Throws unless every array has the length of the first. */
export function checkLengths(what: string, ...arrays: ArrayLike<number>[]): void {
  const n = arrays[0]?.length ?? 0;
  for (const a of arrays) {
    if (a.length !== n) throw new Error(`${what}: arrays differ in length (${n} vs ${a.length})`);
  }
}

/** Throws unless i indexes a step of a schedule of `count` steps. */
/** The UNet input of a schedule that feeds the sample as it is (DDIM, LCM): a copy, after the index check. */
export const unscaledInput = (count: number) => (sample: Float32Array, stepIndex: number): Float32Array => {
  checkStepIndex(stepIndex, count);
  return sample.slice();
};

export function checkStepIndex(stepIndex: number, count: number): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= count) {
    throw new RangeError(`step index ${stepIndex} is outside the schedule's ${count} steps`);
  }
}

/** f(a[i], b[i]) for every element, in float64, stored as float32. */
export function map2(what: string, a: Float32Array, b: Float32Array, f: (x: number, y: number) => number): Float32Array {
  checkLengths(what, a, b);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]!, b[i]!);
  return out;
}

/** f(a[i], b[i], c[i]) for every element, in float64, stored as float32. */
export function map3(
  what: string,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  f: (x: number, y: number, z: number) => number,
): Float32Array {
  checkLengths(what, a, b, c);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]!, b[i]!, c[i]!);
  return out;
}

/** c * a, elementwise. */
export function scale(c: number, a: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = c * a[i]!;
  return out;
}

/** noise(n), checked to be n floats. */
export function drawNoise(noise: (n: number) => Float32Array, n: number): Float32Array {
  const z = noise(n);
  if (z.length !== n) throw new Error(`noise(${n}) returned ${z.length} values`);
  return z;
}

// ---------------------------------------------------------------------------------------------
// scheduler_config.json

/**
 * Reads one scheduler's keys from a scheduler_config.json object with diffusers' defaults. Keys
 * the scheduler does not take are ignored, as diffusers' from_config does (configs carry other
 * schedulers' keys, e.g. PNDM's skip_prk_steps). Wrong types and unsupported values throw,
 * naming the key.
 */
export class ConfigReader {
  readonly raw: Readonly<Record<string, unknown>>;
  readonly className: string;

  constructor(raw: Readonly<Record<string, unknown>>, className: string) {
    this.raw = raw;
    this.className = className;
  }

  fail(key: string, message: string): never {
    throw new Error(`scheduler_config.json: ${this.className} "${key}" ${message}`);
  }

  number(key: string, fallback: number, check?: (x: number) => boolean, expected?: string): number {
    const v = this.raw[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a number, got ${show(v)}`);
    if (check && !check(v)) this.fail(key, `must be ${expected}, got ${show(v)}`);
    return v;
  }

  /** A number that may also be absent or null (diffusers' `float | None` keys). */
  optionalNumber(key: string): number | undefined {
    const v = this.raw[key];
    return v === undefined || v === null ? undefined : this.number(key, 0);
  }

  integer(key: string, fallback: number, min: number): number {
    return this.number(key, fallback, (x) => Number.isInteger(x) && x >= min, `an integer >= ${min}`);
  }

  /** A bool; JSON null counts as false (Python's None is falsy where diffusers tests these). */
  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined) return fallback;
    if (v === null) return false;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T, unsupported: readonly string[] = []): T {
    const v = this.raw[key];
    if (v === undefined) return fallback;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const list = allowed.map((a) => `"${a}"`).join(', ');
    if (typeof v === 'string' && unsupported.includes(v)) this.fail(key, `"${v}" is not supported (supported: ${list})`);
    return this.fail(key, `is ${show(v)}; supported: ${list}`);
  }

  /** A key whose only supported value is `value` (absent and null are fine too). */
  refuseUnless(key: string, value: boolean | string, why: string): void {
    const v = this.raw[key];
    if (v === undefined || v === null || v === value) return;
    this.fail(key, `is ${show(v)}; only ${show(value)} is supported (${why})`);
  }

  /** A key that must be absent or null. */
  absent(key: string, why: string): void {
    const v = this.raw[key];
    if (v === undefined || v === null) return;
    this.fail(key, `is not supported (${why})`);
  }

  /** The noise-schedule keys, with this scheduler's defaults; trained_betas is refused. */
  noise(defaults: Omit<NoiseConfig, 'rescaleBetasZeroSnr'>): NoiseConfig {
    this.absent('trained_betas', 'explicit beta arrays are not supported; use beta_start/beta_end/beta_schedule');
    const inUnit = (x: number) => x > 0 && x < 1;
    return {
      numTrainTimesteps: this.integer('num_train_timesteps', defaults.numTrainTimesteps, 2),
      betaStart: this.number('beta_start', defaults.betaStart, inUnit, 'between 0 and 1 (exclusive)'),
      betaEnd: this.number('beta_end', defaults.betaEnd, inUnit, 'between 0 and 1 (exclusive)'),
      betaSchedule: this.oneOf('beta_schedule', BETA_SCHEDULES, defaults.betaSchedule),
      rescaleBetasZeroSnr: this.bool('rescale_betas_zero_snr', false),
    };
  }

  spacing(fallback: TimestepSpacing): TimestepSpacing {
    return this.oneOf('timestep_spacing', TIMESTEP_SPACINGS, fallback);
  }
}

/** The config object and its `_class_name`; anything not a JSON object throws. */
export function readClassName(config: unknown): { raw: Readonly<Record<string, unknown>>; className: string } {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new Error(`scheduler_config.json must be a JSON object, got ${show(config)}`);
  }
  const raw = config as Record<string, unknown>;
  const className = raw['_class_name'];
  if (typeof className !== 'string') {
    throw new Error(`scheduler_config.json "_class_name" must be a string, got ${show(className)}`);
  }
  return { raw, className };
}

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
