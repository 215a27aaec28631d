// The Backend interface: the only view tasks, batching and generation have of a native runtime.
import type { StatefulDecoder } from './openvino-stateful-session.ts';

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
  /**
   * Set when the model is a stateful decoder (its KV cache inside the engine, as OpenVINO's
   * `optimum-cli export openvino` writes): text generation then drives it through this instead of
   * feeding past/present tensors.
   */
  readonly statefulDecoder?: StatefulDecoder;
  /**
   * Set when the engine keeps a fused decoder's session (owned-kv-session.ts) beside the model, as
   * onnxruntime's inference worker does: token ids go in, logits come out, no KV buffer crosses
   * threads. Without it the session runs on this thread over run().
   */
  openOwnedKvSession?(maxPositions: number, maxRows?: number): Promise<DecoderSession>;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /**
   * One forward pass. Rejects with RuntimeError('cancelled') if the signal fired before it started.
   * Feeds named in `keep` come back in the result under their own names (the caller's buffers,
   * handed back without a copy): a KV cache the runtime owns goes in and returns every step.
   */
  run(feeds: Feeds, signal?: AbortSignal, keep?: readonly string[]): Promise<Record<string, Tensor>>;
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


/** A prefill's logits: each new row's last position, and (for prompt logprobs) any prompt position. */
export interface PrefillLogits {
  /** Logits after row `row`'s whole prompt (row numbers of this prefill, from 0). */
  last(row: number): Float32Array;
  /** Logits after prompt position `t` of row `row` (they score token t + 1). */
  at(row: number, t: number): Float32Array;
}

/**
 * A decoder with its KV cache, one row per running sequence. The scheduler asks it for prefill,
 * decode, keep-rows and fork and never sees a KV tensor: the engine owns the cache (an Optimum
 * graph's past/present tensors, or an OpenVINO stateful decoder's internal state).
 */
export interface DecoderSession {
  /** Rows held, in order. */
  readonly rows: number;
  /**
   * Prefills the prompts as new rows appended after the current ones. `everyPosition[r]` asks for
   * prompt r's logits at every position (prompt logprobs); without it a session may compute only
   * the last position's, and `at` answers only for the positions asked for.
   */
  prefill(prompts: ReadonlyArray<readonly number[]>, everyPosition?: readonly boolean[]): Promise<PrefillLogits>;
  /**
   * Feeds each row its next token (one per row, in row order); returns logits [rows, vocab]
   * flattened. A row given HOLD does not advance (its logits row is meaningless): only sessions
   * with `extend` are ever given it, for rows that prefill in chunks or verify speculated tokens.
   */
  decode(tokens: readonly number[]): Promise<Float32Array>;
  /** Keeps only these rows, in this order; a row named twice is duplicated (beams fork). */
  keepRows(rows: readonly number[]): void;
  /** Appends `copies` duplicates of row `row` (beams and n > 1 share a prompt's cache). */
  fork(row: number, copies: number): void;
  /** Drops every row (after a failed run the cache cannot be trusted). */
  reset(): void;
  /**
   * Optional: feeds rows `first..first + tokens.length - 1`, which hold a cache already, their next
   * tokens (several per row; none holds the row) in one run; logits as prefill gives them, row
   * numbers from 0 for `first`. Chunked prefill and speculative verification run on it.
   */
  extend?(first: number, tokens: ReadonlyArray<readonly number[]>, everyPosition?: readonly boolean[]): Promise<PrefillLogits>;
  /**
   * Optional (with extend): two extends of different rows in one run, as two token groups (each
   * its own width) sharing one pass over the weights: a step's decode rows and a prompt chunk.
   */
  extendPair?(a: ExtendRun, b: ExtendRun): Promise<[PrefillLogits, PrefillLogits]>;
  /** Optional (with extend): forgets row `row`'s positions from `length` on (rejected speculated tokens). */
  truncate?(row: number, length: number): void;
  /** Optional: KV blocks kept beside the rows, for prefix caching. */
  readonly blocks?: KvBlockStore;
}

/** An extend's arguments (DecoderSession.extend), for extendPair. */
export interface ExtendRun {
  first: number;
  tokens: ReadonlyArray<readonly number[]>;
  everyPosition?: readonly boolean[];
}

/** Row tokens that do not advance in a decode (see DecoderSession.decode). */
export const HOLD = -1;

/**
 * Fixed-size blocks of cached positions kept by id, copied out of a row and into a new one; the
 * prefix cache (runtime/batching/prefix-cache.ts) decides which ids exist.
 */
export interface KvBlockStore {
  /** Positions per block. */
  readonly size: number;
  /** Keeps row `row`'s block `firstBlock + i` (positions from (firstBlock + i) x size) as `ids[i]`. */
  save(row: number, firstBlock: number, ids: readonly number[]): void;
  /**
   * Appends a row whose cache is these blocks, in order, with room for `positions` (what the row
   * will hold once its prompt is fed), so a prompt fed in chunks makes room once, not per chunk.
   */
  open(ids: readonly number[], positions?: number): void;
  /** Frees blocks. */
  drop(ids: readonly number[]): void;
}
