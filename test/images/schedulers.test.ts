// The diffusion schedulers against diffusers' formulas: beta schedules, timestep spacing, one step
// of each scheduler on known scalars, img2img strength, config validation, totality and purity.
import { describe, expect, it } from 'vitest';
import { ancestralSigmas } from '../../runtime/images/schedulers/euler-ancestral.ts';
import { createScheduler, SUPPORTED_SCHEDULERS } from '../../runtime/images/schedulers/index.ts';
import { lcmScalings, lcmTimesteps } from '../../runtime/images/schedulers/lcm.ts';
import {
  alphasCumprod,
  betas,
  rescaleZeroTerminalSnr,
  roundHalfEven,
  type DiffusionSchedule,
} from '../../runtime/images/schedulers/schedule.ts';

// Stable Diffusion 1.x/2.x/XL noise schedule keys.
const SD = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' };
const euler = (extra: Record<string, unknown> = {}) => ({ _class_name: 'EulerDiscreteScheduler', ...SD, steps_offset: 1, timestep_spacing: 'leading', ...extra });
const ancestral = (extra: Record<string, unknown> = {}) => ({ ...euler(extra), _class_name: 'EulerAncestralDiscreteScheduler' });
const ddim = (extra: Record<string, unknown> = {}) => ({ _class_name: 'DDIMScheduler', ...SD, steps_offset: 1, clip_sample: false, set_alpha_to_one: false, ...extra });
const lcm = (extra: Record<string, unknown> = {}) => ({ _class_name: 'LCMScheduler', ...SD, original_inference_steps: 50, ...extra });

/** SD's alphas_cumprod re-derived plainly: beta_i = (sqrt(0.00085) + i/999 * (sqrt(0.012) - sqrt(0.00085)))^2. */
function sdCumprod(): number[] {
  const out: number[] = [];
  let product = 1;
  for (let i = 0; i < 1000; i++) {
    const root = Math.sqrt(0.00085) + (i / 999) * (Math.sqrt(0.012) - Math.sqrt(0.00085));
    product *= 1 - root * root;
    out.push(product);
  }
  return out;
}
const AC = sdCumprod();
const sigmaOf = (t: number) => Math.sqrt((1 - AC[t]!) / AC[t]!);

const f32 = (xs: number[]) => Float32Array.from(xs);
const closeAll = (actual: Float32Array, expected: number[], digits = 4) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
};
const noNoise = () => {
  throw new Error('noise must not be drawn');
};

/** A seeded standard-normal source (LCG + Box-Muller), independent of the runtime's. */
function normals(seed: number): (n: number) => Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  return (n) =>
    Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

describe('beta schedules', () => {
  it('scaled_linear with SD values gives the known alphas_cumprod', () => {
    const b = betas('scaled_linear', 0.00085, 0.012, 1000);
    expect(b[0]).toBeCloseTo(0.00085, 15);
    expect(b[999]).toBeCloseTo(0.012, 15);
    const ac = alphasCumprod(b);
    expect(ac[0]).toBeCloseTo(0.99915, 12);
    expect(ac[999]).toBeCloseTo(0.0047, 4);
    expect(ac[999]).toBeCloseTo(0.004660098513077238, 12); // numpy float64, by hand
    for (const i of [1, 250, 500, 998]) expect(ac[i]).toBeCloseTo(AC[i]!, 14);
    // SD's well-known sigma_max.
    expect(Math.sqrt((1 - ac[999]!) / ac[999]!)).toBeCloseTo(14.614641229333639, 9);
  });

  it('linear runs from beta_start to beta_end evenly', () => {
    const b = betas('linear', 0.0001, 0.02, 1000);
    expect(b[0]).toBe(0.0001);
    expect(b[999]).toBe(0.02);
    expect(b[1]).toBeCloseTo(0.0001 + 0.0199 / 999, 15);
    expect(alphasCumprod(b)[999]).toBeCloseTo(4.035829765375676e-5, 15);
  });

  it('squaredcos_cap_v2 follows the GLIDE cosine alpha_bar, capped at 0.999', () => {
    const b = betas('squaredcos_cap_v2', 0.0001, 0.02, 1000);
    const abar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    expect(b[0]).toBeCloseTo(1 - abar(0.001) / abar(0), 15);
    expect(b[0]).toBeCloseTo(4.128422482196914e-5, 12);
    expect(b[998]).toBeCloseTo(0.7499993929011166, 9);
    expect(b[999]).toBe(0.999);
  });

  it('rescale_betas_zero_snr keeps the first alpha_bar and zeroes the last', () => {
    const ac = alphasCumprod(rescaleZeroTerminalSnr(betas('scaled_linear', 0.00085, 0.012, 1000)));
    expect(ac[0]).toBeCloseTo(0.99915, 12);
    expect(ac[999]).toBeCloseTo(0, 12);
    const s = createScheduler(euler({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing', prediction_type: 'v_prediction' }), 4);
    expect(s.initNoiseSigma).toBeCloseTo(Math.sqrt((1 - 2 ** -24) / 2 ** -24), 6); // diffusers' 2^-24 floor
  });
});

describe('timesteps', () => {
  const arith = (from: number, by: number, n: number) => Array.from({ length: n }, (_, i) => from - i * by);

  it('leading with steps_offset 1 gives 981, 961, ..., 1', () => {
    expect(createScheduler(euler(), 50).timesteps).toEqual(arith(981, 20, 50));
    expect(createScheduler(ddim(), 50).timesteps).toEqual(arith(981, 20, 50));
  });

  it('trailing gives 999, 979, ..., 19, rounding half to even as numpy does', () => {
    expect(createScheduler(euler({ timestep_spacing: 'trailing' }), 50).timesteps).toEqual(arith(999, 20, 50));
    expect(createScheduler(ddim({ timestep_spacing: 'trailing' }), 50).timesteps).toEqual(arith(999, 20, 50));
    // 1000 - 62.5 i: 937.5 -> 938, 812.5 -> 812 (not 813).
    expect(createScheduler(ddim({ timestep_spacing: 'trailing' }), 16).timesteps.slice(0, 6)).toEqual([999, 937, 874, 811, 749, 687]);
    expect(roundHalfEven(812.5)).toBe(812);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(-0.4)).toBe(-0);
  });

  it('trailing keeps exactly `steps` timesteps where numpy arange yields one more', () => {
    const ts = createScheduler(euler({ timestep_spacing: 'trailing' }), 61).timesteps;
    expect(ts).toHaveLength(61);
    expect(ts[0]).toBe(999);
    expect(Math.min(...ts)).toBeGreaterThanOrEqual(0);
  });

  it('linspace: DDIM rounds 999 ... 0, Euler keeps the float32 values', () => {
    const d = createScheduler(ddim({ timestep_spacing: 'linspace' }), 50).timesteps;
    expect(d.slice(0, 5)).toEqual([999, 979, 958, 938, 917]);
    expect(d.slice(-3)).toEqual([41, 20, 0]);
    const e = createScheduler(euler({ timestep_spacing: 'linspace' }), 50).timesteps;
    expect(e[0]).toBe(999);
    expect(e[1]).toBe(Math.fround(999 - 999 / 49));
    expect(e[1]).toBe(978.6122436523438);
    expect(e[49]).toBe(0);
  });

  it('LCM picks [999, 759, 499, 259] for 4 of 50 original steps', () => {
    expect(createScheduler(lcm(), 4).timesteps).toEqual([999, 759, 499, 259]);
    expect(lcmTimesteps(1000, 50, 1)).toEqual([999]);
    expect(lcmTimesteps(1000, 50, 50)).toEqual(arith(999, 20, 50));
  });
});

describe('EulerDiscreteScheduler', () => {
  const x = [0.5, -1, 2];
  const eps = [0.1, 0.2, -0.3];

  it('initNoiseSigma: sqrt(sigma_max^2 + 1) for leading, sigma_max for trailing and linspace', () => {
    expect(createScheduler(euler(), 30).initNoiseSigma).toBeCloseTo(Math.sqrt(sigmaOf(958) ** 2 + 1), 9); // 29 * 33 + 1
    expect(createScheduler(euler(), 50).initNoiseSigma).toBeCloseTo(Math.sqrt(sigmaOf(981) ** 2 + 1), 9);
    expect(createScheduler(euler({ timestep_spacing: 'trailing' }), 50).initNoiseSigma).toBeCloseTo(14.614641229333639, 9);
    expect(createScheduler(euler({ timestep_spacing: 'linspace' }), 50).initNoiseSigma).toBeCloseTo(14.614641229333639, 9);
  });

  it('scaleModelInput divides by sqrt(sigma^2 + 1)', () => {
    const s = createScheduler(euler(), 50);
    closeAll(s.scaleModelInput(f32(x), 3), x.map((v) => v / Math.sqrt(sigmaOf(s.timesteps[3]!) ** 2 + 1)), 6);
  });

  it('epsilon step: x + (sigma_next - sigma) * (x - denoised) / sigma with denoised = x - sigma * eps', () => {
    const s = createScheduler(euler(), 50);
    const sigma = sigmaOf(s.timesteps[0]!);
    const next = sigmaOf(s.timesteps[1]!);
    const expected = x.map((v, i) => {
      const denoised = v - sigma * eps[i]!;
      return v + (next - sigma) * ((v - denoised) / sigma);
    });
    closeAll(s.step(f32(eps), 0, f32(x), noNoise), expected);
    // The last step lands on sigma 0: the denoised sample itself.
    const last = sigmaOf(s.timesteps[49]!);
    closeAll(s.step(f32(eps), 49, f32(x), noNoise), x.map((v, i) => v - last * eps[i]!), 6);
  });

  it('v_prediction and sample steps use their denoised formulas', () => {
    const v = createScheduler(euler({ prediction_type: 'v_prediction' }), 50);
    const sigma = sigmaOf(v.timesteps[5]!);
    const next = sigmaOf(v.timesteps[6]!);
    const vDenoised = (xi: number, m: number) => m * (-sigma / Math.sqrt(sigma ** 2 + 1)) + xi / (sigma ** 2 + 1);
    closeAll(v.step(f32(eps), 5, f32(x), noNoise), x.map((xi, i) => xi + (next - sigma) * ((xi - vDenoised(xi, eps[i]!)) / sigma)));
    const s = createScheduler(euler({ prediction_type: 'sample' }), 50);
    closeAll(s.step(f32(eps), 5, f32(x), noNoise), x.map((xi, i) => xi + (next - sigma) * ((xi - eps[i]!) / sigma)));
  });

  it('final_sigmas_type sigma_min ends on the smallest train sigma', () => {
    const s = createScheduler(euler({ final_sigmas_type: 'sigma_min' }), 10);
    const sigma = sigmaOf(s.timesteps[9]!);
    const end = sigmaOf(0);
    closeAll(s.step(f32(eps), 9, f32(x), noNoise), x.map((v, i) => v + (end - sigma) * eps[i]!), 6);
  });
});

describe('EulerAncestralDiscreteScheduler', () => {
  it('sigma_up and sigma_down split the step', () => {
    const { sigmaUp, sigmaDown } = ancestralSigmas(2, 1);
    expect(sigmaUp).toBeCloseTo(Math.sqrt((1 * (4 - 1)) / 4), 15);
    expect(sigmaDown).toBeCloseTo(0.5, 15);
    expect(ancestralSigmas(3, 0)).toEqual({ sigmaUp: 0, sigmaDown: 0 });
  });

  it('steps to sigma_down and adds exactly the given noise times sigma_up, n floats per step', () => {
    const s = createScheduler(ancestral(), 20);
    const x = [0.5, -1, 2, 0.25];
    const eps = [0.1, 0.2, -0.3, 0];
    const z = [1, -2, 0.5, 3];
    const calls: number[] = [];
    const noise = (n: number) => {
      calls.push(n);
      return f32(z);
    };
    const sigma = sigmaOf(s.timesteps[0]!);
    const next = sigmaOf(s.timesteps[1]!);
    const up = Math.sqrt((next ** 2 * (sigma ** 2 - next ** 2)) / sigma ** 2);
    const down = Math.sqrt(next ** 2 - up ** 2);
    const expected = x.map((v, i) => v + eps[i]! * (down - sigma) + z[i]! * up);
    const out = s.step(f32(eps), 0, f32(x), noise);
    closeAll(out, expected);
    expect(s.step(f32(eps), 0, f32(x), noise)).toEqual(out); // deterministic for the same noise
    // The last step draws too (sigma_up is 0 there, as in diffusers), so a generator advances per step.
    s.step(f32(eps), 19, f32(x), noise);
    expect(calls).toEqual([4, 4, 4]);
  });

  it('refuses prediction_type sample, which diffusers does not implement here', () => {
    expect(() => createScheduler(ancestral({ prediction_type: 'sample' }), 10)).toThrow(/prediction_type/);
  });
});

describe('DDIMScheduler (eta 0)', () => {
  const x = [0.5, -1, 2];
  const eps = [0.1, 0.2, -0.3];
  const ddimStep = (t: number, aPrev: number) =>
    x.map((v, i) => {
      const x0 = (v - Math.sqrt(1 - AC[t]!) * eps[i]!) / Math.sqrt(AC[t]!);
      return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps[i]!;
    });

  it('one step is sqrt(a_prev) x0 + sqrt(1 - a_prev) eps, a_prev at t - T // steps', () => {
    const s = createScheduler(ddim(), 50);
    expect(s.initNoiseSigma).toBe(1);
    closeAll(s.scaleModelInput(f32(x), 0), x, 7);
    closeAll(s.step(f32(eps), 0, f32(x), noNoise), ddimStep(981, AC[961]!), 5);
    closeAll(s.step(f32(eps), 10, f32(x), noNoise), ddimStep(781, AC[761]!), 5);
  });

  it('set_alpha_to_one decides the last step: 1 gives x0, false gives alphas_cumprod[0]', () => {
    const off = createScheduler(ddim({ set_alpha_to_one: false }), 50);
    closeAll(off.step(f32(eps), 49, f32(x), noNoise), ddimStep(1, AC[0]!), 5);
    const on = createScheduler(ddim({ set_alpha_to_one: true }), 50);
    closeAll(on.step(f32(eps), 49, f32(x), noNoise), ddimStep(1, 1), 5);
  });

  it('clip_sample clamps x0 to clip_sample_range (diffusers defaults it on)', () => {
    const s = createScheduler(ddim({ clip_sample: undefined, clip_sample_range: 0.1 }), 50);
    const aPrev = AC[961]!;
    const expected = x.map((v, i) => {
      const x0 = (v - Math.sqrt(1 - AC[981]!) * eps[i]!) / Math.sqrt(AC[981]!);
      return Math.sqrt(aPrev) * Math.min(0.1, Math.max(-0.1, x0)) + Math.sqrt(1 - aPrev) * eps[i]!;
    });
    closeAll(s.step(f32(eps), 0, f32(x), noNoise), expected, 5);
  });

  it('v_prediction: x0 = sqrt(a) x - sqrt(1-a) v, eps = sqrt(a) v + sqrt(1-a) x', () => {
    const s = createScheduler(ddim({ prediction_type: 'v_prediction' }), 50);
    const a = AC[981]!;
    const aPrev = AC[961]!;
    const expected = x.map((v, i) => {
      const x0 = Math.sqrt(a) * v - Math.sqrt(1 - a) * eps[i]!;
      const e = Math.sqrt(a) * eps[i]! + Math.sqrt(1 - a) * v;
      return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * e;
    });
    closeAll(s.step(f32(eps), 0, f32(x), noNoise), expected, 5);
  });
});

describe('LCMScheduler', () => {
  it('boundary-condition scalings with timestep_scaling 10 and sigma_data 0.5', () => {
    const { cSkip, cOut } = lcmScalings(259, 10);
    expect(cSkip).toBeCloseTo(0.25 / (2590 ** 2 + 0.25), 15);
    expect(cOut).toBeCloseTo(2590 / Math.sqrt(2590 ** 2 + 0.25), 15);
    expect(lcmScalings(0, 10)).toEqual({ cSkip: 1, cOut: 0 });
  });

  it('injects noise on every step but the last', () => {
    const s = createScheduler(lcm(), 4);
    expect(s.initNoiseSigma).toBe(1);
    const x = [0.5, -1, 2];
    const eps = [0.1, 0.2, -0.3];
    const z = [1, -2, 0.5];
    const calls: number[] = [];
    const noise = (n: number) => {
      calls.push(n);
      return f32(z);
    };
    const denoised = (t: number) => {
      const { cSkip, cOut } = lcmScalings(t, 10);
      return x.map((v, i) => cOut * ((v - Math.sqrt(1 - AC[t]!) * eps[i]!) / Math.sqrt(AC[t]!)) + cSkip * v);
    };
    const aPrev = AC[759]!;
    closeAll(s.step(f32(eps), 0, f32(x), noise), denoised(999).map((d, i) => Math.sqrt(aPrev) * d + Math.sqrt(1 - aPrev) * z[i]!), 5);
    expect(calls).toEqual([3]);
    closeAll(s.step(f32(eps), 3, f32(x), noise), denoised(259), 5);
    expect(calls).toEqual([3]);
  });

  it('refuses more steps than original_inference_steps', () => {
    expect(() => createScheduler(lcm({ original_inference_steps: 8 }), 10)).toThrow(/original_inference_steps/);
    expect(() => createScheduler(lcm({ original_inference_steps: 2000 }), 4)).toThrow(/original_inference_steps/);
  });
});

describe('img2img strength', () => {
  it('keeps timesteps[t_start:] with t_start = steps - min(floor(steps * strength), steps)', () => {
    for (const config of [euler(), ancestral(), ddim(), lcm()]) {
      const full = createScheduler(config, 20).timesteps;
      expect(createScheduler(config, 20, { strength: 0.3 }).timesteps).toEqual(full.slice(14));
      expect(createScheduler(config, 20, { strength: 1 }).timesteps).toEqual(full);
      expect(createScheduler(config, 20, { strength: 0.999 }).timesteps).toEqual(full.slice(1));
    }
  });

  it('addNoise noises to the first kept timestep', () => {
    const e = createScheduler(euler(), 50, { strength: 0.5 });
    expect(e.timesteps[0]).toBe(481);
    closeAll(e.addNoise(f32([0, 1]), f32([1, 1])), [sigmaOf(481), 1 + sigmaOf(481)], 5);
    const d = createScheduler(ddim(), 50, { strength: 0.5 });
    closeAll(d.addNoise(f32([1, 0]), f32([0, 1])), [Math.sqrt(AC[481]!), Math.sqrt(1 - AC[481]!)], 6);
    const l = createScheduler(lcm(), 4, { strength: 0.5 });
    expect(l.timesteps).toEqual([499, 259]);
    closeAll(l.addNoise(f32([1, 0]), f32([0, 1])), [Math.sqrt(AC[499]!), Math.sqrt(1 - AC[499]!)], 6);
  });

  it('addNoise at a later step index noises to that timestep (inpainting re-noise)', () => {
    const e = createScheduler(euler(), 50, { strength: 0.5 });
    closeAll(e.addNoise(f32([0]), f32([1]), 3), [sigmaOf(e.timesteps[3]!)], 5);
    const a = createScheduler(ancestral(), 50);
    closeAll(a.addNoise(f32([0]), f32([1]), 7), [sigmaOf(a.timesteps[7]!)], 5);
    for (const config of [ddim(), lcm()]) {
      const s = createScheduler(config, 4);
      const t = s.timesteps[2]!;
      closeAll(s.addNoise(f32([1, 0]), f32([0, 1]), 2), [Math.sqrt(AC[t]!), Math.sqrt(1 - AC[t]!)], 6);
      expect(() => s.addNoise(f32([1]), f32([1]), 4)).toThrow(RangeError);
    }
  });

  it('refuses strength outside (0, 1] and strengths that leave no step', () => {
    for (const strength of [0, 1.5, -0.5, NaN]) {
      expect(() => createScheduler(euler(), 20, { strength })).toThrow(/strength/);
    }
    expect(() => createScheduler(euler(), 4, { strength: 0.2 })).toThrow(/strength/);
  });
});

describe('config validation', () => {
  const cases: Array<[string, unknown, number, RegExp]> = [
    ['unknown class', { ...euler(), _class_name: 'PNDMScheduler' }, 20, /_class_name.*PNDMScheduler.*EulerDiscreteScheduler/],
    ['missing class', { ...SD }, 20, /_class_name/],
    ['not an object', [1, 2], 20, /JSON object/],
    ['trained_betas', euler({ trained_betas: [0.1, 0.2] }), 20, /trained_betas/],
    ['karras sigmas', euler({ use_karras_sigmas: true }), 20, /use_karras_sigmas/],
    ['exponential sigmas', euler({ use_exponential_sigmas: true }), 20, /use_exponential_sigmas/],
    ['log_linear', euler({ interpolation_type: 'log_linear' }), 20, /interpolation_type/],
    ['bad spacing', euler({ timestep_spacing: 'middle' }), 20, /timestep_spacing/],
    ['bad spacing (DDIM)', ddim({ timestep_spacing: 42 }), 20, /timestep_spacing/],
    ['bad beta schedule', ddim({ beta_schedule: 'sigmoid' }), 20, /beta_schedule/],
    ['bad prediction type', lcm({ prediction_type: 'flow' }), 4, /prediction_type/],
    ['thresholding', ddim({ thresholding: true }), 20, /thresholding/],
    ['bad final sigmas', euler({ final_sigmas_type: 'one' }), 20, /final_sigmas_type/],
    ['negative offset', euler({ steps_offset: -1 }), 20, /steps_offset/],
    ['beta out of range', euler({ beta_end: 2 }), 20, /beta_end/],
    ['string number', euler({ num_train_timesteps: '1000' }), 20, /num_train_timesteps/],
    ['zero snr with epsilon', ddim({ rescale_betas_zero_snr: true }), 20, /rescale_betas_zero_snr/],
    ['steps 0', euler(), 0, /steps/],
    ['steps 1.5', ddim(), 1.5, /steps/],
    ['steps over train timesteps', euler(), 1001, /steps/],
    ['offset past the last timestep', ddim(), 1000, /timestep 1000/],
  ];
  it.each(cases)('%s throws naming the key', (_name, config, steps, message) => {
    expect(() => createScheduler(config, steps)).toThrow(message);
  });

  it('lists the supported classes and takes real configs with other schedulers\' keys', () => {
    expect(SUPPORTED_SCHEDULERS).toEqual(['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler', 'DDIMScheduler', 'LCMScheduler']);
    // SD 1.5's PNDM config re-labelled, as diffusers' from_config allows.
    const pndm = { _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', ...SD, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false };
    for (const className of SUPPORTED_SCHEDULERS) {
      expect(createScheduler({ ...pndm, _class_name: className }, 8).timesteps).toHaveLength(8);
    }
    expect(createScheduler(euler({ use_karras_sigmas: false, sigma_min: null, interpolation_type: 'linear' }), 8).timesteps).toHaveLength(8);
  });
});

describe('totality', () => {
  const variants: Array<[string, unknown]> = [
    ['euler leading', euler()],
    ['euler linspace v', euler({ timestep_spacing: 'linspace', prediction_type: 'v_prediction' })],
    ['euler trailing sample', euler({ timestep_spacing: 'trailing', prediction_type: 'sample' })],
    ['ancestral', ancestral()],
    ['ancestral cosine v', ancestral({ beta_schedule: 'squaredcos_cap_v2', prediction_type: 'v_prediction' })],
    ['ddim', ddim()],
    ['ddim linear linspace clipped', ddim({ beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02, timestep_spacing: 'linspace', clip_sample: true })],
    ['lcm', lcm()],
    ['lcm v', lcm({ prediction_type: 'v_prediction' })],
  ];

  it.each(variants)('%s: a 20-step loop on random model outputs stays finite', (_name, config) => {
    const s = createScheduler(config, 20);
    expect(s.timesteps).toHaveLength(20);
    const n = 4 * 8 * 8;
    const draw = normals(7);
    let latents: Float32Array = Float32Array.from(draw(n), (v) => v * s.initNoiseSigma);
    for (let i = 0; i < s.timesteps.length; i++) {
      const input = s.scaleModelInput(latents, i);
      expect(input.every(Number.isFinite)).toBe(true);
      latents = s.step(draw(n), i, latents, draw);
      expect(latents.every(Number.isFinite)).toBe(true);
    }
    expect(() => s.step(draw(n), 20, latents, draw)).toThrow(RangeError);
    expect(() => s.step(draw(n), 0, latents.subarray(1), draw)).toThrow(/length/);
  });

  it('single-step schedules work for every scheduler', () => {
    for (const config of [euler(), ancestral(), ddim(), lcm()]) {
      const s = createScheduler(config, 1);
      expect(s.timesteps).toHaveLength(1);
      expect(s.step(f32([0.1]), 0, f32([1]), normals(1)).every(Number.isFinite)).toBe(true);
    }
  });
});

describe('purity', () => {
  it('no method mutates its inputs', () => {
    const schedules: DiffusionSchedule[] = [euler(), ancestral(), ddim(), lcm()].map((c) => createScheduler(c, 4));
    for (const s of schedules) {
      const sample = f32([0.5, -1, 2]);
      const out = f32([0.1, 0.2, -0.3]);
      const noise = f32([1, -1, 0.5]);
      const scaled = s.scaleModelInput(sample, 0);
      const next = s.step(out, 0, sample, () => noise);
      const noised = s.addNoise(sample, noise);
      expect([...sample]).toEqual([...f32([0.5, -1, 2])]);
      expect([...out]).toEqual([...f32([0.1, 0.2, -0.3])]);
      expect([...noise]).toEqual([...f32([1, -1, 0.5])]);
      for (const result of [scaled, next, noised]) {
        expect(result).not.toBe(sample);
        expect(result).toBeInstanceOf(Float32Array);
      }
      expect(s.step(out, 0, sample, () => noise)).toEqual(next);
    }
  });
});
