// Messages between the main thread and the inference worker (onnxruntime-worker.ts).
import type { Tensor, TensorInfo } from './backend.ts';
import type { OwnedKvEngine } from './owned-kv-session.ts';

export type WorkerRequest =
  | { op: 'load'; id: number; file: string; threads: number | undefined }
  | { op: 'run'; id: number; session: number; feeds: Record<string, Tensor>; keep?: readonly string[] }
  | { op: 'release'; id: number; session: number }
  // A decoder session kept in the worker beside its model (runtime/backends/owned-kv-session.ts):
  // its KV buffers never cross threads; only token ids go in and logits come out.
  | { op: 'decoder.open'; id: number; session: number; maxPositions: number; maxRows?: number }
  | { op: 'decoder.call'; id: number; session: number; method: EngineMethod; args: unknown[] };

/** The engine's operations, called by name in the worker. */
export type EngineMethod = Exclude<keyof OwnedKvEngine, 'rows'>;

export interface LoadResult {
  session: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

export type WorkerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string };

/**
 * Buffers that can move between threads without a copy: non-shared ArrayBuffers the tensors view
 * whole, and (`partial`) those they view in part, which the receiver hands back.
 */
export function transferables(tensors: Iterable<Tensor>, partial: Iterable<Tensor> = []): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const { data } of tensors) {
    const buffer = data.buffer;
    if (buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength && buffer.byteLength > 0) out.add(buffer);
  }
  for (const { data } of partial) if (data.buffer instanceof ArrayBuffer && data.buffer.byteLength > 0) out.add(data.buffer);
  return [...out];
}
