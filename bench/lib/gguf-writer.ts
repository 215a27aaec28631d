// Writes GGUF v3 files (llama.cpp's model format): header, typed metadata, tensor infos, 32-byte-aligned data.
import { closeSync, openSync, writeSync } from 'node:fs';

/** ggml tensor types this writer can size (block size, bytes per block), from ggml.h / ggml-common.h. */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlTypeCode = (typeof GgmlType)[keyof typeof GgmlType];
const BLOCK: Record<GgmlTypeCode, { size: number; bytes: number }> = {
  [GgmlType.F32]: { size: 1, bytes: 4 },
  [GgmlType.F16]: { size: 1, bytes: 2 },
  [GgmlType.Q4_0]: { size: 32, bytes: 18 }, // fp16 scale + 16 bytes of nibbles
  [GgmlType.Q8_0]: { size: 32, bytes: 34 }, // fp16 scale + 32 int8
};

/** gguf_metadata_value_type codes (gguf-py/gguf/constants.py GGUFValueType). */
const ValueType = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;

/** A metadata value with its GGUF type made explicit (JS numbers alone cannot say u32 from f32). */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'i32[]'; value: ArrayLike<number> };

export const gguf = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): GgufValue => ({ type: 'string[]', value }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ type: 'i32[]', value }),
};

export interface GgufTensor {
  name: string;
  /** ggml order: ne[0] (the contiguous, innermost axis) first — the reverse of a row-major shape. */
  dims: number[];
  type: GgmlTypeCode;
  /** Produces the tensor's bytes when it is written, so only one tensor is in memory at a time. */
  data: () => Uint8Array;
}

export const ALIGNMENT = 32;
const align = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

export function tensorBytes(dims: readonly number[], type: GgmlTypeCode): number {
  const { size, bytes } = BLOCK[type];
  const [ne0 = 1, ...rest] = dims;
  if (ne0 % size !== 0) throw new Error(`row of ${ne0} is not a whole number of ${size}-element blocks`);
  return (ne0 / size) * bytes * rest.reduce((a, b) => a * b, 1);
}

/** Little-endian byte buffer that grows as the header is written. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 20);
  length = 0;
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  /** Reserves `n` bytes, lets `put` fill them at the current end, and advances. */
  private put(n: number, put: (buf: Buffer, at: number) => void): this {
    this.reserve(n);
    put(this.buf, this.length);
    this.length += n;
    return this;
  }
  u8(v: number): this {
    return this.put(1, (b, at) => b.writeUInt8(v, at));
  }
  u32(v: number): this {
    return this.put(4, (b, at) => b.writeUInt32LE(v, at));
  }
  i32(v: number): this {
    return this.put(4, (b, at) => b.writeInt32LE(v, at));
  }
  u64(v: number): this {
    return this.put(8, (b, at) => b.writeBigUInt64LE(BigInt(v), at));
  }
  f32(v: number): this {
    return this.put(4, (b, at) => b.writeFloatLE(v, at));
  }
  /** gguf_string: u64 byte length, then UTF-8 bytes (no terminator). */
  string(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    return this.u64(bytes.length).put(bytes.length, (b, at) => bytes.copy(b, at));
  }
  pad(): this {
    const n = align(this.length) - this.length;
    return this.put(n, (b, at) => b.fill(0, at, at + n));
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      return void w.u32(ValueType.UINT32).u32(v.value);
    case 'i32':
      return void w.u32(ValueType.INT32).i32(v.value);
    case 'f32':
      return void w.u32(ValueType.FLOAT32).f32(v.value);
    case 'bool':
      return void w.u32(ValueType.BOOL).u8(v.value ? 1 : 0);
    case 'string':
      return void w.u32(ValueType.STRING).string(v.value);
    case 'string[]':
      w.u32(ValueType.ARRAY).u32(ValueType.STRING).u64(v.value.length);
      for (const s of v.value) w.string(s);
      return;
    case 'i32[]':
      w.u32(ValueType.ARRAY).u32(ValueType.INT32).u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) w.i32(v.value[i] as number);
      return;
  }
}

/** Writes `file` as GGUF v3; tensors are laid out in the given order, each at a 32-byte-aligned offset. */
export function writeGguf(file: string, metadata: Record<string, GgufValue>, tensors: readonly GgufTensor[]): void {
  const entries = Object.entries({ 'general.alignment': gguf.u32(ALIGNMENT), ...metadata });
  const w = new ByteWriter();
  w.u32(0x46554747).u32(3).u64(tensors.length).u64(entries.length); // "GGUF", version 3
  for (const [key, value] of entries) w.string(key), writeValue(w, value);
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    w.string(t.name).u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type).u64(offset);
    const size = tensorBytes(t.dims, t.type);
    sizes.push(size);
    offset = align(offset + size);
  }
  w.pad(); // the data section starts aligned
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, w.bytes());
    const zeros = Buffer.alloc(ALIGNMENT);
    tensors.forEach((t, i) => {
      const data = t.data();
      if (data.byteLength !== sizes[i]) throw new Error(`${t.name}: ${data.byteLength} bytes, expected ${sizes[i]}`);
      writeSync(fd, data);
      const padding = align(data.byteLength) - data.byteLength;
      if (padding) writeSync(fd, zeros, 0, padding);
    });
  } finally {
    closeSync(fd);
  }
}
