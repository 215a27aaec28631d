// The Backend interface: the only view tasks, batching and generation have of a native runtime.

/** Element types the runtime exchanges with backends (the ONNX names). */
export type TensorType = 'float32' | 'float16' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';

export const TENSOR_TYPES: readonly TensorType[] = ['float32', 'float16', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool'];

/** float16 travels as its raw bits (Uint16Array); bool as one byte per element. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** A dense row-major tensor, shared with the native side without copying where possible. */
export interface Tensor {
  readonly type: TensorType;
  readonly data: TensorData;
  readonly dims: readonly number[];
}

/** Name, element type and shape of a model input or output; symbolic dims are strings. */
export interface TensorInfo {
  readonly name: string;
  readonly type: TensorType;
  readonly shape: ReadonlyArray<number | string>;
}

export type Feeds = Record<string, Tensor>;

export interface Backend {
  /** Which engine runs this model, for logs and /v3/models. */
  readonly engine: 'onnxruntime' | 'openvino';
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** One forward pass. Rejects with RuntimeError('cancelled') if the signal fired before it started. */
  run(feeds: Feeds, signal?: AbortSignal): Promise<Record<string, Tensor>>;
  dispose(): Promise<void>;
}

export interface BackendOptions {
  /** Intra-op threads; undefined lets the engine choose (all cores). */
  threads?: number;
}

export type BackendFactory = (modelFile: string, options: BackendOptions) => Promise<Backend>;

const ARRAYS: Record<TensorType, new (length: number) => TensorData> = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

export function allocate(type: TensorType, length: number): TensorData {
  return new ARRAYS[type](length);
}

