// The protobuf wire-format reader and writer of runtime/onnx: varints, fields, chunking.
import { describe, expect, it } from 'vitest';
import { int64Value, readFields, readVarint, stringValue, varintsOf, varintValue, WireType } from '../../runtime/onnx/protobuf-reader.ts';
import { concatBytes, ProtoWriter } from '../../runtime/onnx/protobuf-writer.ts';

const bytes = (w: ProtoWriter) => concatBytes(w.finish());

describe('protobuf varints', () => {
  it('writes the canonical encodings', () => {
    expect([...bytes(new ProtoWriter().varint(1, 0))]).toEqual([0x08, 0x00]);
    expect([...bytes(new ProtoWriter().varint(1, 150))]).toEqual([0x08, 0x96, 0x01]);
    expect([...bytes(new ProtoWriter().varint(16, 1))]).toEqual([0x80, 0x01, 0x01]);
    // -1 as int64: ten bytes of two's complement.
    expect([...bytes(new ProtoWriter().varint(1, -1))]).toEqual([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('reads back every width, including values past 2^53', () => {
    for (const v of [0n, 1n, 127n, 128n, 300n, 2n ** 35n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n]) {
      const encoded = bytes(new ProtoWriter().varint(1, v));
      const [field] = readFields(encoded);
      expect(varintValue(field!)).toBe(v);
    }
    const [minusOne] = readFields(bytes(new ProtoWriter().varint(3, -1)));
    expect(int64Value(minusOne!)).toBe(-1);
  });

  it('refuses truncated and over-long varints', () => {
    expect(() => readVarint(Uint8Array.of(0x80, 0x80), 0)).toThrow(/truncated/);
    expect(() => readVarint(new Uint8Array(11).fill(0x80), 0)).toThrow(/longer than 10 bytes/);
  });
});

describe('protobuf fields', () => {
  it('splits a message into fields that keep their exact bytes', () => {
    const w = new ProtoWriter().varint(1, 7).string(2, 'héllo').float(3, 1.5).packedVarints(4, [1, 300, -2]);
    const encoded = bytes(w);
    const fields = readFields(encoded);
    expect(fields.map((f) => [f.field, f.wire])).toEqual([
      [1, WireType.Varint],
      [2, WireType.LengthDelimited],
      [3, WireType.Fixed32],
      [4, WireType.LengthDelimited],
    ]);
    expect(stringValue(fields[1]!)).toBe('héllo');
    expect(new DataView(fields[2]!.value.buffer, fields[2]!.value.byteOffset).getFloat32(0, true)).toBe(1.5);
    expect(varintsOf(fields[3]!).map((v) => BigInt.asIntN(64, v))).toEqual([1n, 300n, -2n]);
    expect(concatBytes(fields.map((f) => f.raw))).toEqual(encoded);
  });

  it('reads fixed64 fields and refuses group wire types and overruns', () => {
    const fixed64 = Uint8Array.of(0x09, 1, 2, 3, 4, 5, 6, 7, 8);
    expect(readFields(fixed64)[0]!.value).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    expect(() => readFields(Uint8Array.of(0x0b))).toThrow(/wire type 3/);
    expect(() => readFields(Uint8Array.of(0x0a, 0x05, 0x01))).toThrow(/past the end/);
  });

  it('nests messages and keeps large payloads by reference', () => {
    const big = new Uint8Array(100_000).fill(7);
    const inner = new ProtoWriter().bytes(9, big).string(8, 'w');
    const outer = new ProtoWriter().message(5, inner);
    const chunks = outer.finish();
    expect(chunks).toContain(big); // not copied
    const [field] = readFields(concatBytes(chunks));
    const innerFields = readFields(field!.value);
    expect(Buffer.compare(innerFields[0]!.value, big)).toBe(0);
    expect(stringValue(innerFields[1]!)).toBe('w');
    expect(outer.length).toBe(concatBytes(chunks).length);
  });

  it('counts lengths across its scratch buffers', () => {
    const w = new ProtoWriter();
    for (let i = 0; i < 50_000; i++) w.string(1, `name-${i}`);
    const encoded = concatBytes(w.finish());
    expect(w.length).toBe(encoded.length);
    const fields = readFields(encoded);
    expect(fields).toHaveLength(50_000);
    expect(stringValue(fields[49_999]!)).toBe('name-49999');
  });
});
