// The text-to-image pipeline on the tiny-sd fixture against a plain onnxruntime loop written here
// (same ids, latents and scheduler): decoded pixels within 1e-4; seeds reproducible alone and in a
// batch; edits (image-to-image and masked inpainting) against what they must equal; cancellation.
import { decode, encode } from 'fast-png';
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiffusionBatcher, type DiffusionStats, type ImageRow } from '../../runtime/batching/diffusion-batcher.ts';
import { createOnnxRuntimeBackend } from '../../runtime/backends/onnxruntime.ts';
import { choiceSeed } from '../../runtime/generation/rng.ts';
import { readDiffusionManifest } from '../../runtime/images/diffusion-manifest.ts';
import { gaussianSource, tensorToRgb } from '../../runtime/images/latents.ts';
import { diffusionNetworks, type DiffusionNetworks } from '../../runtime/images/networks.ts';
import { encodePng } from '../../runtime/images/png.ts';
import { createScheduler } from '../../runtime/images/schedulers/index.ts';
import { createRuntime, type ImageRequest, type Runtime } from '../../runtime/index.ts';
import { createTokenizer } from '../../runtime/tokenizer.ts';
import { fixtureConfig, fixturePath } from '../helpers/fixtures.ts';

const PROMPT = 'a lighthouse at dusk';
const SIZE = 64;
const STEPS = 4;
const GUIDANCE = 7.5;

/** The whole pipeline by hand: CLIP ids, CFG pair, Euler loop, VAE decode; pixels [3, 64, 64] per image. */
async function plainLoop(seed: number, index: number, dir: string): Promise<Float32Array> {
  const manifest = readDiffusionManifest(dir);
  const tokenizer = createTokenizer(manifest.tokenizerJson, manifest.tokenizerConfig);
  const session = (name: string) => ort.InferenceSession.create(join(dir, name, 'model.onnx'));
  const [text, unet, vae] = await Promise.all([session('text_encoder'), session('unet'), session('vae_decoder')]);
  const pad = tokenizer.tokenToId('<|endoftext|>') as number;
  const ids = (s: string) => {
    const out = new Int32Array(77).fill(pad);
    out.set(tokenizer.encodeSingle(s, 77).ids.slice(0, 77));
    return out;
  };
  const hidden = (await text.run({ input_ids: new ort.Tensor('int32', Int32Array.from([...ids(''), ...ids(PROMPT)]), [2, 77]) })).last_hidden_state!.data as Float32Array;
  const schedule = createScheduler(manifest.schedulerConfig, STEPS);
  const noise = gaussianSource(choiceSeed(seed, index));
  const plane = 4 * 8 * 8;
  let latents: Float32Array = noise(plane).map((v) => v * schedule.initNoiseSigma);
  for (let i = 0; i < STEPS; i++) {
    const input = schedule.scaleModelInput(latents, i);
    const sample = new Float32Array(2 * plane);
    sample.set(input, 0);
    sample.set(input, plane);
    const t = schedule.timesteps[i] as number;
    const out = (await unet.run({ sample: new ort.Tensor('float32', sample, [2, 4, 8, 8]), timestep: new ort.Tensor('float32', Float32Array.of(t, t), [2]), encoder_hidden_states: new ort.Tensor('float32', hidden, [2, 77, manifest.hiddenSize]) })).out_sample!.data as Float32Array;
    const eps = new Float32Array(plane);
    for (let k = 0; k < plane; k++) eps[k] = (out[k] as number) + GUIDANCE * ((out[plane + k] as number) - (out[k] as number));
    latents = schedule.step(eps, i, latents, noise);
  }
  const pixels = (await vae.run({ latent_sample: new ort.Tensor('float32', latents.map((v) => v / manifest.scalingFactor), [1, 4, 8, 8]) })).sample!.data as Float32Array;
  await Promise.all([text.release(), unet.release(), vae.release()]);
  return pixels;
}

const rgbOf = (png: Uint8Array) => {
  const image = decode(png);
  expect([image.width, image.height, image.channels, image.depth]).toEqual([SIZE, SIZE, 3, 8]);
  return image.data as Uint8Array;
};

describe('text-to-image on the tiny-sd fixture', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    runtime = createRuntime(fixtureConfig([{ fixture: 'tiny-sd', task: 'text-to-image', name: 'sd', max_batch_images: 8 }]), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const request = (over: Partial<ImageRequest> = {}): ImageRequest => ({ model: 'sd', prompt: PROMPT, n: 1, width: SIZE, height: SIZE, steps: STEPS, guidanceScale: GUIDANCE, seed: 11, ...over });

  it('the batched denoiser over the networks equals a plain onnxruntime loop within 1e-4 on decoded pixels', async () => {
    const dir = fixturePath('tiny-sd');
    const manifest = readDiffusionManifest(dir);
    const backend = (name: string) => createOnnxRuntimeBackend(join(dir, name, 'model.onnx'), {});
    const parts = { textEncoder: await backend('text_encoder'), unet: await backend('unet'), vaeDecoder: await backend('vae_decoder') };
    const net = diffusionNetworks(parts, manifest.contextLength, manifest.hiddenSize, manifest.vaeScale);
    const tokenizer = createTokenizer(manifest.tokenizerJson, manifest.tokenizerConfig);
    const pad = tokenizer.tokenToId('<|endoftext|>') as number;
    const ids = (s: string) => {
      const out = new Int32Array(77).fill(pad);
      out.set(tokenizer.encodeSingle(s, 77).ids);
      return out;
    };
    const hidden = await net.encodeText(Int32Array.from([...ids(''), ...ids(PROMPT)]), 2);
    const block = 77 * manifest.hiddenSize;
    const batcher = createDiffusionBatcher(net, { maxBatchImages: 8, maxQueuedRequests: 8, scalingFactor: manifest.scalingFactor });
    const rows = [0, 1].map((i) => {
      const schedule = createScheduler(manifest.schedulerConfig, STEPS);
      const noise = gaussianSource(choiceSeed(11, i));
      return { schedule, latents: noise(256).map((v) => v * schedule.initNoiseSigma), context: hidden.slice(block), negativeContext: hidden.slice(0, block), guidanceScale: GUIDANCE, noise };
    });
    const pixels: Float32Array[] = [];
    await new Promise<void>((resolve, reject) => batcher.submit({ latentHeight: 8, latentWidth: 8, rows, onImage: (i, p) => void (pixels[i] = p), onDone: resolve, onError: reject }));
    for (const i of [0, 1]) {
      const expected = await plainLoop(11, i, dir);
      let worst = 0;
      for (let k = 0; k < expected.length; k++) worst = Math.max(worst, Math.abs((expected[k] as number) - (pixels[i]?.[k] as number)));
      expect(worst).toBeLessThan(1e-4);
      expect(new Set(Array.from(expected.slice(0, 64), (v) => v.toFixed(3))).size).toBeGreaterThan(8); // not a constant image
    }
    await Promise.all(Object.values(parts).map((b) => b.dispose()));
  });

  it('generateImages gives PNGs of the requested size whose pixels are the plain loop quantized', async () => {
    const result = await runtime.generateImages(request({ n: 2 }));
    expect(result.images).toHaveLength(2);
    for (const i of [0, 1]) {
      const expected = encodePng(tensorToRgb(await plainLoop(11, i, fixturePath('tiny-sd')), SIZE, SIZE), SIZE, SIZE);
      const got = rgbOf(result.images[i] as Uint8Array);
      const want = decode(expected).data as Uint8Array;
      let differ = 0;
      for (let k = 0; k < got.length; k++) {
        expect(Math.abs((got[k] as number) - (want[k] as number))).toBeLessThanOrEqual(1);
        if (got[k] !== want[k]) differ++;
      }
      expect(differ / got.length).toBeLessThan(0.001);
    }
    expect(result.promptTokens).toBeGreaterThan(4);
  });

  it('the same seed gives byte-identical PNGs alone and in a batch of 4 with other requests', async () => {
    const alone = await runtime.generateImages(request({ seed: 5 }));
    const [together] = await Promise.all([runtime.generateImages(request({ seed: 5 })), runtime.generateImages(request({ seed: 6, prompt: 'a red boat' })), runtime.generateImages(request({ seed: 7, n: 2 }))]);
    expect(Buffer.from(together!.images[0]!).equals(Buffer.from(alone.images[0]!))).toBe(true);
    const other = await runtime.generateImages(request({ seed: 6 }));
    expect(Buffer.from(other.images[0]!).equals(Buffer.from(alone.images[0]!))).toBe(false);
    expect(runtime.batchStats('sd')).toMatchObject({ largestBatch: expect.any(Number) });
    expect((runtime.batchStats('sd') as unknown as { largestBatch: number }).largestBatch).toBeGreaterThan(1);
  });

  it('4 requests submitted together denoise as one batch of 4 from their first step, each PNG the one its seed makes alone; a lone request waits for nobody', async () => {
    const stats = () => ({ ...(runtime.batchStats('sd') as unknown as DiffusionStats) });
    const seeds = [21, 22, 23, 24];
    const alone: Uint8Array[] = [];
    for (const seed of seeds) {
      const before = stats();
      alone.push((await runtime.generateImages(request({ seed }))).images[0] as Uint8Array);
      const after = stats();
      expect([after.steps - before.steps, after.imageSteps - before.imageSteps, after.joinWaits - before.joinWaits]).toEqual([STEPS, STEPS, 0]);
    }
    const before = stats();
    const together = await Promise.all(seeds.map((seed) => runtime.generateImages(request({ seed }))));
    const after = stats();
    // STEPS UNet runs in all, each advancing all 4 images: none ran a step alone or joined late.
    expect(after.steps - before.steps).toBe(STEPS);
    expect(after.imageSteps - before.imageSteps).toBe(4 * STEPS);
    expect(after.images - before.images).toBe(4);
    expect(after.largestBatch).toBeGreaterThanOrEqual(4);
    expect(after.announced).toBe(0);
    together.forEach((r, i) => expect(Buffer.from(r.images[0]!).equals(Buffer.from(alone[i]!))).toBe(true));
    // Mixed n (2 + 1 + 1) is one batch of 4 too.
    const mixed = stats();
    await Promise.all([runtime.generateImages(request({ seed: 31, n: 2 })), runtime.generateImages(request({ seed: 32 })), runtime.generateImages(request({ seed: 33 }))]);
    const end = stats();
    expect([end.steps - mixed.steps, end.imageSteps - mixed.imageSteps]).toEqual([STEPS, 4 * STEPS]);
  });

  it('the batcher waits for announced requests of its size until they are submitted, each at most joinWaitMs, and not for other sizes or when full', async () => {
    const { schedulerConfig } = readDiffusionManifest(fixturePath('tiny-sd'));
    const batches: number[] = [];
    const net: DiffusionNetworks = {
      contextLength: 1,
      hiddenSize: 1,
      encodeText: async () => new Float32Array(1),
      unet: async (sample, _timesteps, _context, shape) => {
        batches.push(shape.batch);
        return new Float32Array(sample.length);
      },
      decode: async (_latents, shape) => new Float32Array(shape.batch * 3 * 64 * shape.height * shape.width),
    };
    const row = (seed: number): ImageRow => {
      const schedule = createScheduler(schedulerConfig, STEPS);
      const noise = gaussianSource(choiceSeed(seed, 0));
      return { schedule, latents: noise(256), context: new Float32Array(1), guidanceScale: 1, noise };
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const make = (joinWaitMs: number) => {
      const batcher = createDiffusionBatcher(net, { maxBatchImages: 3, maxQueuedRequests: 8, scalingFactor: 1, joinWaitMs });
      const job = (seed: number, side = 8) =>
        new Promise<void>((resolve, reject) => batcher.submit({ latentHeight: side, latentWidth: side, rows: [row(seed)], onImage: () => {}, onDone: resolve, onError: reject }));
      const announce = (side = 8) => batcher.announce({ latentHeight: side, latentWidth: side, images: 1 });
      return { batcher, job, announce };
    };

    // Three announced, submitted 30 ms apart (as their prompts finish encoding): one batch of 3 from the first step.
    const patient = make(10_000);
    const arrivals = [0, 1, 2].map(() => patient.announce());
    const done: Promise<void>[] = [];
    for (const i of [0, 1, 2]) {
      if (i > 0) await sleep(30);
      done.push(patient.job(i));
      arrivals[i]?.();
    }
    await Promise.all(done);
    expect(batches.splice(0)).toEqual(Array(STEPS).fill(3));
    expect(patient.batcher.stats).toMatchObject({ steps: STEPS, imageSteps: 3 * STEPS, joinWaits: 1, joinWaitTimeouts: 0, announced: 0 });
    // Announced but of another size, or with no room left (3 running): not waited for.
    const otherSize = patient.announce(16);
    await patient.job(3);
    otherSize();
    const fourth = patient.announce();
    await Promise.all([patient.job(4), patient.job(5), patient.job(6)]);
    fourth();
    expect(batches.splice(0)).toEqual([...Array(STEPS).fill(1), ...Array(STEPS).fill(3)]);
    expect(patient.batcher.stats).toMatchObject({ joinWaits: 1, joinWaitTimeouts: 0 });

    // One announced that never comes: the first step waits joinWaitMs for it, the later steps not at all.
    const hasty = make(40);
    const never = hasty.announce();
    await hasty.job(7);
    expect(batches.splice(0)).toEqual(Array(STEPS).fill(1));
    expect(hasty.batcher.stats).toMatchObject({ steps: STEPS, joinWaits: 1, joinWaitTimeouts: 1, announced: 1 });
    never();
    never();
    expect(hasty.batcher.stats.announced).toBe(0);
  });

  it('edits: image-to-image makes an image of the size asked; an opaque mask keeps the source, a transparent one repaints all', async () => {
    const [source] = (await runtime.generateImages(request({ seed: 3 }))).images as Uint8Array[];
    const edit = await runtime.generateImages(request({ image: source, strength: 0.5, seed: 4 }));
    expect(rgbOf(edit.images[0] as Uint8Array)).toHaveLength(SIZE * SIZE * 3);
    const mask = (alpha: number) => {
      const rgba = new Uint8Array(SIZE * SIZE * 4);
      for (let p = 0; p < SIZE * SIZE; p++) rgba[p * 4 + 3] = alpha;
      return encode({ width: SIZE, height: SIZE, data: rgba, channels: 4 });
    };
    // Opaque everywhere: nothing is repainted, so the result is the source's VAE round trip whatever the seed.
    const keptA = await runtime.generateImages(request({ image: source, mask: mask(255), strength: 0.75, seed: 1 }));
    const keptB = await runtime.generateImages(request({ image: source, mask: mask(255), strength: 0.75, seed: 2 }));
    expect(Buffer.from(keptA.images[0]!).equals(Buffer.from(keptB.images[0]!))).toBe(true);
    // Transparent everywhere: all repainted, as image-to-image without a mask.
    const all = await runtime.generateImages(request({ image: source, mask: mask(0), strength: 0.75, seed: 1 }));
    const plain = await runtime.generateImages(request({ image: source, strength: 0.75, seed: 1 }));
    expect(Buffer.from(all.images[0]!).equals(Buffer.from(plain.images[0]!))).toBe(true);
    expect(Buffer.from(all.images[0]!).equals(Buffer.from(keptA.images[0]!))).toBe(false);
  });

  it('a request whose client leaves stops denoising at the next step', async () => {
    const before = (runtime.batchStats('sd') as unknown as { steps: number }).steps;
    const leave = new AbortController();
    const pending = runtime.generateImages(request({ steps: 40, signal: leave.signal, seed: 9 }));
    await new Promise((r) => setTimeout(r, 30));
    leave.abort();
    await expect(pending).rejects.toMatchObject({ kind: 'cancelled' });
    const at = (runtime.batchStats('sd') as unknown as { steps: number }).steps;
    await new Promise((r) => setTimeout(r, 200));
    expect((runtime.batchStats('sd') as unknown as { steps: number }).steps - at).toBeLessThanOrEqual(1);
    expect(at - before).toBeLessThan(40);
  });

  it('a full queue refuses at once with queue_full and a retry hint', async () => {
    const small = createRuntime(fixtureConfig([{ fixture: 'tiny-sd', task: 'text-to-image', name: 'sd', max_batch_images: 1, max_queued_requests: 1 }]), { log: () => {} });
    await small.ready;
    try {
      const running = small.generateImages(request({ steps: 40 }));
      await new Promise((r) => setTimeout(r, 5));
      const queued = small.generateImages(request({ steps: 2, seed: 1 }));
      const refused = await small.generateImages(request({ steps: 2, seed: 2 })).catch((e: unknown) => e);
      expect(refused).toMatchObject({ kind: 'queue_full', retryAfterSeconds: 1 });
      expect((await running).images).toHaveLength(1);
      expect((await queued).images).toHaveLength(1);
    } finally {
      await small.close();
    }
  });

  it.each([
    ['n above the model maximum', { n: 5 }, 'n'],
    ['a side that is not a multiple of 16', { width: 72 }, 'width'],
    ['a side above max_image_side', { height: 2048 }, 'height'],
    ['zero steps', { steps: 0 }, 'steps'],
    ['steps above max_steps', { steps: 1000 }, 'steps'],
    ['strength without an image', { strength: 0.5 }, 'strength'],
    ['a mask without an image', { mask: new Uint8Array(8) }, 'mask'],
    ['an image that is not a PNG', { image: new Uint8Array([1, 2, 3]) }, 'image'],
    ['strength above 1', { image: new Uint8Array([1]), strength: 1.5 }, 'strength'],
  ])('%s is an invalid_request naming %s', async (_, over, param) => {
    await expect(runtime.generateImages(request(over as Partial<ImageRequest>))).rejects.toMatchObject({ kind: 'invalid_request', param });
  });
});
