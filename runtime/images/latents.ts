// Latent and pixel tensors for the image task (NCHW, float32): seeded Gaussian noise per image,
// so an image's latents depend on its request's seed and index only, never on its batch; pixels
// to the VAE's [-1, 1] range and back; a mask reduced to the latent grid. Pure.
import { createRng } from '../generation/rng.ts';
import type { RgbaImage } from './png.ts';

/** A standard-normal generator from a seed (Box-Muller over the sampler's seeded uniform source). */
export function gaussianSource(seed: number): (n: number) => Float32Array {
  const uniform = createRng(seed);
  let spare: number | undefined;
  const next = () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]: log stays finite
    const v = uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
  return (n) => Float32Array.from({ length: n }, next);
}

/** RGBA pixels (resized by nearest neighbour to width x height) as a [3, height, width] tensor in [-1, 1]. */
export function pixelsToTensor(image: RgbaImage, width: number, height: number): Float32Array {
  const out = new Float32Array(3 * width * height);
  const plane = width * height;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.floor(((y + 0.5) * image.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.floor(((x + 0.5) * image.width) / width));
      const src = (sy * image.width + sx) * 4;
      for (let c = 0; c < 3; c++) out[c * plane + y * width + x] = ((image.rgba[src + c] as number) / 255) * 2 - 1;
    }
  }
  return out;
}

/** A decoded [3, height, width] tensor to 8-bit RGB, clamped (the VAE's output is roughly [-1, 1]). */
export function tensorToRgb(tensor: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  const out = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = ((tensor[c * plane + p] as number) / 2 + 0.5) * 255;
      out[p * 3 + c] = Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round(v))) : 0;
    }
  }
  return out;
}

/**
 * Where to repaint, on the latent grid: 1 where the mask's pixels are transparent (OpenAI's
 * edits convention: transparent = edit), averaged over each latent cell.
 */
export function maskToLatent(mask: RgbaImage, latentWidth: number, latentHeight: number): Float32Array {
  const out = new Float32Array(latentWidth * latentHeight);
  for (let y = 0; y < latentHeight; y++) {
    const y0 = Math.floor((y * mask.height) / latentHeight);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * mask.height) / latentHeight));
    for (let x = 0; x < latentWidth; x++) {
      const x0 = Math.floor((x * mask.width) / latentWidth);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * mask.width) / latentWidth));
      let sum = 0;
      for (let sy = y0; sy < y1; sy++) for (let sx = x0; sx < x1; sx++) sum += 1 - (mask.rgba[(sy * mask.width + sx) * 4 + 3] as number) / 255;
      out[y * latentWidth + x] = sum / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}
