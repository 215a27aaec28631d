// Reads and makes TensorProto payloads: float32 weights in, int8 and float32 tensors out.
import { DataType, EXTERNAL_DATA, type TensorProto } from './model-proto.ts';

export const elementCount = (dims: readonly number[]) => dims.reduce((n, d) => n * d, 1);

/**
 * A float32 tensor's values (from raw_data or float_data), or undefined when they are not in the
 * model (external data) or do not match the dims. raw_data is viewed in place when aligned.
 */
export function float32Values(t: TensorProto): Float32Array | undefined {
  if (t.dataType !== DataType.FLOAT || t.dataLocation === EXTERNAL_DATA) return undefined;
  const count = elementCount(t.dims);
  if (t.rawData !== undefined) {
    const raw = t.rawData;
    if (raw.length !== count * 4) return undefined;
    if (raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, count);
    return new Float32Array(Uint8Array.from(raw).buffer); // a copy (Buffer#slice would be a view)
  }
  return t.floatData.length === count ? t.floatData : undefined;
}

/** An initializer holding `bytes` (little-endian) as raw_data. */
export function rawTensor(name: string, dataType: number, dims: number[], bytes: Uint8Array): TensorProto {
  return { name, dataType, dims, rawData: bytes, floatData: new Float32Array(0), int64Data: new BigInt64Array(0), other: [] };
}

export const bytesOf = (a: Float32Array | Int8Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
