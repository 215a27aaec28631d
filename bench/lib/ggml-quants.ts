// ggml's reference quantizers (ggml-quants.c quantize_row_q8_0_ref / q4_0_ref) in float32 arithmetic, and fp32 -> fp16.
const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);
const f = Math.fround;

/** IEEE binary16 bits of `v`, rounded to nearest even (what GGML_FP32_TO_FP16 does on x86 F16C). */
export function toHalfBits(v: number): number {
  f32Box[0] = v;
  const x = u32Box[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    // Subnormal half: value / 2^-24, rounded to nearest even.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is the right answer
  return sign | h;
}

/** Q8_0: per block of 32, d = amax / 127 (stored fp16), q = round(x / d) as int8. 34 bytes a block. */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const blocks = x.length / 32;
  if (!Number.isInteger(blocks)) throw new Error('q8_0 needs a multiple of 32 values');
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[base + j] as number));
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    view.setUint16(b * 34, toHalfBits(d), true);
    for (let j = 0; j < 32; j++) {
      const v = f((x[base + j] as number) * id);
      const q = Math.sign(v) * Math.floor(Math.abs(v) + 0.5); // roundf: halves away from zero
      view.setInt8(b * 34 + 2 + j, q);
    }
  }
  return out;
}

/**
 * Q4_0: per block of 32, d = max / -8 where max is the value of largest magnitude (stored fp16),
 * q = min(15, trunc(x / d + 8.5)); byte j holds q[j] in its low nibble and q[j + 16] in its high one.
 * Dequantized value: d * (q - 8). 18 bytes a block.
 */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const blocks = x.length / 32;
  if (!Number.isInteger(blocks)) throw new Error('q4_0 needs a multiple of 32 values');
  const out = new Uint8Array(blocks * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[base + j] as number;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -8);
    const id = d ? f(1 / d) : 0;
    view.setUint16(b * 18, toHalfBits(d), true);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f((x[base + j] as number) * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f((x[base + 16 + j] as number) * id) + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}
