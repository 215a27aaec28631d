// A minimal protobuf wire-format writer: small fields are packed into shared buffers and large
// payloads (tensor bytes) are kept by reference, so re-encoding a 500 MB model copies no weights.
import { WireType } from './protobuf-reader.ts';

/** Payloads at least this long are referenced, not copied. */
const BY_REFERENCE = 16 * 1024;
const SCRATCH_BYTES = 64 * 1024;

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private scratch = new Uint8Array(SCRATCH_BYTES);
  private pendingStart = 0;
  private used = 0;
  /** Bytes written so far. */
  length = 0;

  private seal(): void {
    if (this.used > this.pendingStart) this.chunks.push(this.scratch.subarray(this.pendingStart, this.used));
    this.pendingStart = this.used;
  }

  private room(bytes: number): void {
    if (this.used + bytes <= this.scratch.length) return;
    this.seal();
    this.scratch = new Uint8Array(Math.max(SCRATCH_BYTES, bytes));
    this.pendingStart = 0;
    this.used = 0;
  }

  private putVarint(value: number | bigint): void {
    this.room(10);
    const start = this.used;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
      let v = value;
      while (v >= 0x80) {
        this.scratch[this.used++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.scratch[this.used++] = v;
    } else {
      // Negative int64 values are written as their 64-bit two's complement (10 bytes).
      let v = BigInt.asUintN(64, BigInt(value));
      while (v >= 0x80n) {
        this.scratch[this.used++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.scratch[this.used++] = Number(v);
    }
    this.length += this.used - start;
  }

  private put(bytes: Uint8Array): void {
    if (bytes.length >= BY_REFERENCE) {
      this.seal();
      this.chunks.push(bytes);
    } else {
      this.room(bytes.length);
      this.scratch.set(bytes, this.used);
      this.used += bytes.length;
    }
    this.length += bytes.length;
  }

  private tag(field: number, wire: number): void {
    this.putVarint(field * 8 + wire);
  }

  /** A varint field (int32, int64, enum, bool); negative numbers as 64-bit two's complement. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WireType.Varint);
    this.putVarint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WireType.Fixed32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.put(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LengthDelimited);
    this.putVarint(value.length);
    this.put(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** A nested message from a writer the caller filled (and no longer uses). */
  message(field: number, inner: ProtoWriter): this {
    const chunks = inner.finish();
    this.tag(field, WireType.LengthDelimited);
    this.putVarint(inner.length);
    for (const chunk of chunks) this.put(chunk);
    return this;
  }

  /** A packed repeated varint field (nothing when empty). */
  packedVarints(field: number, values: ReadonlyArray<number | bigint>): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.putVarint(v);
    return this.message(field, inner);
  }

  /** Bytes that are already an encoded field (pass-through). */
  raw(bytes: Uint8Array): this {
    this.put(bytes);
    return this;
  }

  /** The encoded bytes as chunks; large payloads are the caller's own arrays. */
  finish(): Uint8Array[] {
    this.seal();
    return this.chunks;
  }
}

/** One contiguous copy of `chunks` (for tests and small messages). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
