// The text-to-image task: a prompt (and for edits a source image and mask) -> text encoding with
// classifier-free guidance -> per-image seeded latents and schedule -> the step-batching denoiser
// -> VAE decode -> PNG files. Every number a request gives is checked against the model here.
import { createDiffusionBatcher, type DiffusionBatcher, type ImageRow } from '../batching/diffusion-batcher.ts';
import type { ModelEntry } from '../config.ts';
import { RuntimeError } from '../errors.ts';
import { choiceSeed } from '../generation/rng.ts';
import type { DiffusionManifest } from '../images/diffusion-manifest.ts';
import { gaussianSource, maskToLatent, pixelsToTensor, tensorToRgb } from '../images/latents.ts';
import type { DiffusionNetworks } from '../images/networks.ts';
import { decodePng, encodePng } from '../images/png.ts';
import { createScheduler } from '../images/schedulers/index.ts';
import type { Tokenizer } from '../tokenizer.ts';
import type { ImageRequest, ImageResult } from '../types.ts';

export interface ImageGenerator {
  generate(request: ImageRequest): Promise<ImageResult>;
  readonly batcher: DiffusionBatcher;
}

const CHANNELS = 4;
/** Guidance at or below this runs the prompt alone (no negative rows). */
const NO_GUIDANCE = 1;

export function createImageGenerator(entry: ModelEntry, manifest: DiffusionManifest, net: DiffusionNetworks, tokenizer: Tokenizer): ImageGenerator {
  const batcher = createDiffusionBatcher(net, { maxBatchImages: entry.max_batch_images, maxQueuedRequests: entry.max_queued_requests, scalingFactor: manifest.scalingFactor });
  const invalid = (message: string, param: string) => new RuntimeError('invalid_request', message, { param });
  // Any schedule the config cannot make is a load error, not a request's.
  createScheduler(manifest.schedulerConfig, 1);
  const padId = tokenizer.tokenToId(String((manifest.tokenizerConfig.pad_token as string | undefined) ?? '<|endoftext|>')) ?? 0;

  /** A prompt as the text encoder's fixed-length ids (cut to the context, padded), and its own token count. */
  function promptIds(text: string): { ids: Int32Array; tokens: number } {
    const encoded = tokenizer.encodeSingle(text, manifest.contextLength);
    const ids = new Int32Array(manifest.contextLength).fill(padId);
    ids.set(encoded.ids.slice(0, manifest.contextLength));
    return { ids, tokens: encoded.ids.length };
  }

  function side(value: number | undefined, param: string): number {
    const px = value ?? manifest.defaultSide;
    const m = manifest.sizeMultiple;
    if (!Number.isInteger(px) || px < m || px > entry.max_image_side || px % m !== 0) {
      throw invalid(`This model makes images whose sides are multiples of ${m} pixels, from ${m} to ${entry.max_image_side}; ${param} ${px} is not one.`, param);
    }
    return px;
  }

  return {
    batcher,
    async generate(request) {
      if (!Number.isInteger(request.n) || request.n < 1 || request.n > entry.max_images_per_request) {
        throw invalid(`This model makes at most ${entry.max_images_per_request} images per request; n is ${request.n}.`, 'n');
      }
      const width = side(request.width, 'width');
      const height = side(request.height, 'height');
      const steps = request.steps ?? entry.default_steps;
      if (!Number.isInteger(steps) || steps < 1 || steps > entry.max_steps) throw invalid(`steps must be an integer from 1 to ${entry.max_steps}.`, 'steps');
      const guidance = request.guidanceScale ?? 7.5;
      const editing = request.image !== undefined;
      if (!editing && (request.mask !== undefined || request.strength !== undefined)) throw invalid('mask and strength apply to edits (with an image).', request.mask ? 'mask' : 'strength');
      const strength = request.strength ?? (editing ? 0.8 : undefined);
      if (strength !== undefined && !(strength > 0 && strength <= 1)) throw invalid('strength must be above 0 and at most 1.', 'strength');
      if (editing && !net.encode) throw invalid('This model has no VAE encoder (vae_encoder/), so it cannot edit images.', 'image');

      const latentHeight = height / manifest.vaeScale;
      const latentWidth = width / manifest.vaeScale;
      const plane = CHANNELS * latentHeight * latentWidth;
      const schedule = () => createScheduler(manifest.schedulerConfig, steps, strength === undefined ? undefined : { strength });
      try {
        if (schedule().timesteps.length === 0) throw new Error('no step is left to run');
      } catch (err) {
        // The config loaded, so what it cannot make is this request's steps and strength.
        throw invalid(`The scheduler cannot run ${steps} steps${strength === undefined ? '' : ` at strength ${strength}`}: ${(err as Error).message}`, strength === undefined ? 'steps' : 'strength');
      }

      // The prompt and (with guidance) the negative prompt, encoded once for all n images.
      const guided = guidance > NO_GUIDANCE;
      const prompt = promptIds(request.prompt);
      const negative = guided ? promptIds(request.negativePrompt ?? '') : undefined;
      const ids = negative ? Int32Array.from([...negative.ids, ...prompt.ids]) : prompt.ids;
      /** The prompt's hidden states, (for edits) the source image's latents and mask, and each image's seeded row. */
      const encodedRows = async (): Promise<ImageRow[]> => {
        const hidden = await net.encodeText(ids, negative ? 2 : 1, request.signal);
        const block = manifest.contextLength * manifest.hiddenSize;
        const negativeContext = negative ? hidden.slice(0, block) : undefined;
        const context = hidden.slice(negative ? block : 0, (negative ? 2 : 1) * block);

        // Edits: the source image's latents, and where to repaint.
        let source: Float32Array | undefined;
        let mask: Float32Array | undefined;
        if (request.image && net.encode) {
          const image = decodePng(request.image, entry.max_image_side, 'image');
          const encoded = await net.encode(pixelsToTensor(image, width, height), { batch: 1, channels: CHANNELS, height: latentHeight, width: latentWidth }, request.signal);
          source = encoded.map((v) => v * manifest.scalingFactor);
          if (request.mask) mask = maskToLatent(decodePng(request.mask, entry.max_image_side, 'mask'), latentWidth, latentHeight);
        }

        return Array.from({ length: request.n }, (_, i) => {
          const noise = gaussianSource(choiceSeed(request.seed, i));
          const own = schedule();
          const start = noise(plane);
          let latents: Float32Array;
          let inpaint: ImageRow['inpaint'];
          if (source) {
            latents = own.addNoise(source, start);
            if (mask) inpaint = { mask, source, sourceNoise: start };
          } else latents = start.map((v) => v * own.initNoiseSigma);
          return { schedule: own, latents, context, ...(negativeContext ? { negativeContext } : {}), guidanceScale: guidance, noise, ...(inpaint ? { inpaint } : {}) };
        });
      };

      // From here to submit() the batcher knows this request is coming, so requests of this size
      // arriving together start denoising in the same step.
      const arrived = batcher.announce({ latentHeight, latentWidth, images: request.n });
      let rows: ImageRow[];
      try {
        rows = await encodedRows();
      } catch (err) {
        arrived();
        throw err;
      }
      const pixels: Float32Array[] = new Array(request.n);
      await new Promise<void>((resolve, reject) => {
        try {
          batcher.submit({
            latentHeight,
            latentWidth,
            rows,
            onImage: (index, image) => void (pixels[index] = image),
            onDone: resolve,
            onError: reject,
            signal: request.signal,
          });
        } finally {
          arrived();
        }
      });
      return {
        model: request.model,
        images: pixels.map((p) => encodePng(tensorToRgb(p, width, height), width, height)),
        width,
        height,
        promptTokens: prompt.tokens + (negative?.tokens ?? 0),
      };
    },
  };
}
