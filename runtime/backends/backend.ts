// The Backend interface: the only view tasks, batching and generation have of a native runtime.

/** Element types the runtime exchanges with backends (the ONNX names). */
export type TensorType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';

export type TensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

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

export function allocate(type: TensorType, length: number): TensorData {
  switch (type) {
    case 'float32':
      return new Float32Array(length);
    case 'float16':
      return new Uint16Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'bool':
      return new Uint8Array(length);
  }
}
