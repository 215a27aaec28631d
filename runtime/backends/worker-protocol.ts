// Messages between the main thread and the inference worker (onnxruntime-worker.ts).
import type { Tensor, TensorInfo } from './backend.ts';

export type WorkerRequest =
  | { op: 'load'; id: number; file: string; threads: number | undefined }
  | { op: 'run'; id: number; session: number; feeds: Record<string, Tensor> }
  | { op: 'release'; id: number; session: number };

export interface LoadResult {
  session: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

export type WorkerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string };

/** Buffers that can move between threads without a copy: whole, non-shared ArrayBuffers. */
export function transferables(tensors: Iterable<Tensor>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const { data } of tensors) {
    const buffer = data.buffer;
    if (buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength && buffer.byteLength > 0) out.add(buffer);
  }
  return [...out];
}
