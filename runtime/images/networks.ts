// The networks of a Stable-Diffusion-style pipeline as the denoising loop calls them: text
// encoder, UNet, VAE decoder and (for edits) encoder, each over its Backend with the I/O names
// Optimum's ONNX export uses. Tensors are NCHW float32, batched along the first dimension.
import type { Backend, Tensor } from '../backends/backend.ts';
import { RuntimeError } from '../errors.ts';

export interface DiffusionNetworks {
  /** Token ids [batch, 77] to the hidden states the UNet attends to: one [77 x hidden] block per row. */
  encodeText(ids: Int32Array, batch: number, signal?: AbortSignal): Promise<Float32Array>;
  /** Noise prediction for each row of `sample` [batch, 4, h, w] at its own timestep. */
  unet(sample: Float32Array, timesteps: readonly number[], context: Float32Array, shape: LatentShape, signal?: AbortSignal): Promise<Float32Array>;
  /** Latents [batch, 4, h, w] (already divided by the scaling factor) to pixels [batch, 3, 8h, 8w] in about [-1, 1]. */
  decode(latents: Float32Array, shape: LatentShape, signal?: AbortSignal): Promise<Float32Array>;
  /** Pixels [batch, 3, H, W] in [-1, 1] to latents (the distribution's mean, not yet scaled); undefined without a VAE encoder. */
  encode?(pixels: Float32Array, shape: LatentShape, signal?: AbortSignal): Promise<Float32Array>;
  readonly contextLength: number;
  readonly hiddenSize: number;
}

export interface LatentShape {
  batch: number;
  channels: number;
  height: number;
  width: number;
}

const f32 = (data: Float32Array, dims: number[]): Tensor => ({ type: 'float32', data, dims });

function output(result: Record<string, Tensor>, name: string, network: string): Float32Array {
  const t = result[name];
  if (!t || !(t.data instanceof Float32Array)) throw new RuntimeError('internal', `The ${network} returned no float32 '${name}'.`);
  return t.data;
}

/** The UNet's `timestep` input as its graph declares it: float32 or int64, one per row. */
function timestepTensor(unet: Backend, timesteps: readonly number[]): Tensor {
  const declared = unet.inputs.find((i) => i.name === 'timestep');
  if (declared?.type === 'int64') return { type: 'int64', data: BigInt64Array.from(timesteps.map((t) => BigInt(Math.round(t)))), dims: [timesteps.length] };
  return f32(Float32Array.from(timesteps), [timesteps.length]);
}

export function diffusionNetworks(parts: { textEncoder: Backend; unet: Backend; vaeDecoder: Backend; vaeEncoder?: Backend }, contextLength: number, hiddenSize: number, vaeScale: number): DiffusionNetworks {
  const { textEncoder, unet, vaeDecoder, vaeEncoder } = parts;
  const encoderIds = textEncoder.inputs.find((i) => i.name === 'input_ids');
  return {
    contextLength,
    hiddenSize,
    async encodeText(ids, batch, signal) {
      const input: Tensor = encoderIds?.type === 'int64' ? { type: 'int64', data: BigInt64Array.from(ids, (v) => BigInt(v)), dims: [batch, contextLength] } : { type: 'int32', data: ids, dims: [batch, contextLength] };
      return output(await textEncoder.run({ input_ids: input }, signal), 'last_hidden_state', 'text encoder');
    },
    async unet(sample, timesteps, context, shape, signal) {
      const result = await unet.run(
        {
          sample: f32(sample, [shape.batch, shape.channels, shape.height, shape.width]),
          timestep: timestepTensor(unet, timesteps),
          encoder_hidden_states: f32(context, [shape.batch, contextLength, hiddenSize]),
        },
        signal,
      );
      return output(result, 'out_sample', 'UNet');
    },
    async decode(latents, shape, signal) {
      return output(await vaeDecoder.run({ latent_sample: f32(latents, [shape.batch, shape.channels, shape.height, shape.width]) }, signal), 'sample', 'VAE decoder');
    },
    ...(vaeEncoder
      ? {
          async encode(pixels: Float32Array, shape: LatentShape, signal?: AbortSignal) {
            const dims = [shape.batch, 3, shape.height * vaeScale, shape.width * vaeScale];
            const result = await vaeEncoder.run({ sample: f32(pixels, dims) }, signal);
            if (!result.latent_parameters) return output(result, 'latent_sample', 'VAE encoder');
            // Newer Optimum exports give the distribution's parameters (mean, then log-variance): the mean is the first half of each row.
            const params = output(result, 'latent_parameters', 'VAE encoder');
            const plane = shape.channels * shape.height * shape.width;
            const mean = new Float32Array(shape.batch * plane);
            for (let b = 0; b < shape.batch; b++) mean.set(params.subarray(b * 2 * plane, b * 2 * plane + plane), b * plane);
            return mean;
          },
        }
      : {}),
  };
}
