// PNG in and out for the image task, with fast-png (a maintained pure-JS codec): encoding RGB
// pixels, and decoding uploaded images bounded in size before their pixels are allocated.
import { decode, encode, hasPngSignature } from 'fast-png';
import { RuntimeError } from '../errors.ts';

export interface RgbaImage {
  width: number;
  height: number;
  /** 8-bit RGBA, row-major. */
  rgba: Uint8Array;
}

export function encodePng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  return encode({ width, height, data: rgb, channels: 3, depth: 8 });
}

/** Big-endian width and height from the IHDR chunk (bytes 16-23), read before any decoding. */
function headerSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 24) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * An uploaded PNG as 8-bit RGBA. Not a PNG, larger than `maxSide` pixels a side (checked in the
 * header, before the pixels are inflated), or undecodable: an invalid_request naming `param`.
 */
export function decodePng(bytes: Uint8Array, maxSide: number, param: string): RgbaImage {
  const refuse = (why: string) => new RuntimeError('invalid_request', `'${param}' ${why}.`, { param });
  if (!hasPngSignature(bytes)) throw refuse('is not a PNG image');
  const size = headerSize(bytes);
  if (!size || size.width === 0 || size.height === 0) throw refuse('has no valid PNG header');
  if (size.width > maxSide || size.height > maxSide) throw refuse(`is ${size.width}x${size.height}; images may be at most ${maxSide} pixels a side`);
  let image: ReturnType<typeof decode>;
  try {
    image = decode(bytes);
  } catch (err) {
    throw refuse(`could not be decoded (${(err as Error).message})`);
  }
  return { width: image.width, height: image.height, rgba: toRgba8(image.data, image.channels, image.depth, image.width * image.height, image.palette) };
}

/** Any channel count, 1-16 bit depth and palette to 8-bit RGBA. */
function toRgba8(data: ArrayLike<number>, channels: number, depth: number, pixels: number, palette?: number[][]): Uint8Array {
  const out = new Uint8Array(pixels * 4);
  const scale = depth === 16 ? 1 / 257 : depth < 8 ? 255 / (2 ** depth - 1) : 1;
  for (let p = 0; p < pixels; p++) {
    let r: number, g: number, b: number, a: number;
    if (palette) {
      const entry = palette[data[p] as number] ?? [0, 0, 0, 255];
      [r, g, b] = entry as [number, number, number];
      a = entry[3] ?? 255;
    } else {
      const at = (c: number) => Math.round((data[p * channels + c] as number) * scale);
      if (channels >= 3) [r, g, b, a] = [at(0), at(1), at(2), channels === 4 ? at(3) : 255];
      else [r, g, b, a] = [at(0), at(0), at(0), channels === 2 ? at(1) : 255];
    }
    out.set([r, g, b, a], p * 4);
  }
  return out;
}
