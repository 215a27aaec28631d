// A minimal protobuf wire-format reader: splits a message into fields without copying any bytes.
// Every field keeps its exact encoded bytes, so a caller can write back what it does not model.

/** Wire types that protobuf still uses (the group types 3 and 4 are refused). */
export const WireType = { Varint: 0, Fixed64: 1, LengthDelimited: 2, Fixed32: 5 } as const;
export type WireTypeCode = (typeof WireType)[keyof typeof WireType];

export interface WireField {
  readonly field: number;
  readonly wire: WireTypeCode;
  /** The payload: a length-delimited field's bytes, a fixed field's 4 or 8 bytes, a varint's encoding. */
  readonly value: Uint8Array;
  /** The whole field as read, tag and length prefix included: what pass-through writes back. */
  readonly raw: Uint8Array;
}

/** Reads one varint at `offset`; returns its value (unsigned 64-bit) and the offset after it. */
export function readVarint(bytes: Uint8Array, offset: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  let at = offset;
  for (;;) {
    const byte = bytes[at++];
    if (byte === undefined) throw new Error(`protobuf: truncated varint at byte ${offset}`);
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value: BigInt.asUintN(64, value), next: at };
    shift += 7n;
    if (shift > 63n) throw new Error(`protobuf: varint longer than 10 bytes at byte ${offset}`);
  }
}

/** A small varint (tags, lengths) as a number; refuses values past 2^53. */
function readSmallVarint(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  let at = offset;
  for (;;) {
    const byte = bytes[at++];
    if (byte === undefined) throw new Error(`protobuf: truncated varint at byte ${offset}`);
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) break;
    scale *= 128;
    if (scale > 2 ** 49) {
      const big = readVarint(bytes, offset);
      return { value: Number(big.value), next: big.next };
    }
  }
  return { value, next: at };
}

/** Splits `bytes` (one encoded message) into its fields, in the order they appear. */
export function readFields(bytes: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const tag = readSmallVarint(bytes, at);
    at = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    let valueStart = at;
    if (wire === WireType.Varint) {
      at = readVarint(bytes, at).next;
    } else if (wire === WireType.Fixed64) {
      at += 8;
    } else if (wire === WireType.Fixed32) {
      at += 4;
    } else if (wire === WireType.LengthDelimited) {
      const length = readSmallVarint(bytes, at);
      valueStart = length.next;
      at = length.next + length.value;
    } else {
      throw new Error(`protobuf: unsupported wire type ${wire} for field ${field} at byte ${start}`);
    }
    if (field === 0) throw new Error(`protobuf: field number 0 at byte ${start}`);
    if (at > bytes.length) throw new Error(`protobuf: field ${field} runs past the end (byte ${start})`);
    fields.push({ field, wire, value: bytes.subarray(valueStart, at), raw: bytes.subarray(start, at) });
  }
  return fields;
}

/** A varint field's value, unsigned. */
export function varintValue(f: WireField): bigint {
  return readVarint(f.value, 0).value;
}

/** A varint field read as a signed int64 (two's complement), as a number. */
export function int64Value(f: WireField): number {
  return Number(BigInt.asIntN(64, varintValue(f)));
}

const utf8 = new TextDecoder('utf-8');

export function stringValue(f: WireField): string {
  return utf8.decode(f.value);
}

/** The varints of a repeated scalar field occurrence: one (unpacked) or a packed run. */
export function varintsOf(f: WireField): bigint[] {
  if (f.wire === WireType.Varint) return [varintValue(f)];
  const out: bigint[] = [];
  for (let at = 0; at < f.value.length; ) {
    const v = readVarint(f.value, at);
    out.push(v.value);
    at = v.next;
  }
  return out;
}
