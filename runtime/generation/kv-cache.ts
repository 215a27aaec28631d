// The batched KV cache of continuous batching: one [batch, kv_heads, T, head_dim] tensor per
// layer and kind, every row left-padded to T. Pure operations: merge (sequences join), keep
// (sequences leave, shared padding trimmed), and the attention mask the pads imply.
import { allocate, type Tensor, type TensorType } from '../backends/backend.ts';

export interface KvLayout {
  /** Input and output names per cache tensor, in a fixed order. */
  names: ReadonlyArray<{ past: string; present: string }>;
  kvHeads: number;
  headDim: number;
  type: TensorType;
}

export interface KvCache {
  /** One tensor per layout name, same order. */
  tensors: Tensor[];
  /** Cached positions per row, padding included. */
  length: number;
  /** Leading padding per row. */
  pads: number[];
}

export const batchSize = (cache: KvCache) => cache.pads.length;

export function emptyCache(layout: KvLayout, rows: number): KvCache {
  return {
    tensors: layout.names.map(() => ({ type: layout.type, data: allocate(layout.type, 0), dims: [rows, layout.kvHeads, 0, layout.headDim] })),
    length: 0,
    pads: new Array(rows).fill(0),
  };
}

/** A cache from a run's present.* outputs, keeping the pads the run was fed with. */
export function cacheFromOutputs(layout: KvLayout, outputs: Record<string, Tensor>, pads: number[]): KvCache {
  const tensors = layout.names.map(({ present }) => {
    const t = outputs[present];
    if (!t) throw new Error(`the model did not return ${present}`);
    return t;
  });
  return { tensors, length: (tensors[0] as Tensor).dims[2] as number, pads };
}

/** Feeds for the past_key_values.* inputs. */
export function pastFeeds(layout: KvLayout, cache: KvCache): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  layout.names.forEach(({ past }, i) => (feeds[past] = cache.tensors[i] as Tensor));
  return feeds;
}

/** attention_mask rows for a cache about to receive `extra` more positions: 0 on pads, 1 after. */
export function attentionMask(cache: KvCache, extra: number): Tensor {
  const width = cache.length + extra;
  const data = new BigInt64Array(cache.pads.length * width);
  cache.pads.forEach((pad, row) => data.fill(1n, row * width + pad, (row + 1) * width));
  return { type: 'int64', data, dims: [cache.pads.length, width] };
}

interface RowSource {
  cache: KvCache;
  row: number;
}

/** Builds a cache of the given rows, right-aligned to the longest real content (pads shrink). */
function assemble(layout: KvLayout, sources: RowSource[]): KvCache {
  const real = sources.map(({ cache, row }) => cache.length - (cache.pads[row] as number));
  const length = Math.max(0, ...real);
  const H = layout.kvHeads;
  const D = layout.headDim;
  const tensors = layout.names.map((_, ti) => {
    const out = allocate(layout.type, sources.length * H * length * D);
    sources.forEach(({ cache, row }, r) => {
      const src = cache.tensors[ti] as Tensor;
      const srcLength = cache.length;
      const keep = real[r] as number;
      for (let h = 0; h < H; h++) {
        const from = ((row * H + h) * srcLength + (srcLength - keep)) * D;
        const to = ((r * H + h) * length + (length - keep)) * D;
        (out as Float32Array).set((src.data as Float32Array).subarray(from, from + keep * D), to);
      }
    });
    return { type: layout.type, data: out, dims: [sources.length, H, length, D] };
  });
  return { tensors, length, pads: real.map((n) => length - n) };
}

/** Rows of `a` then rows of `b`, padded to a common length. */
export function mergeCaches(layout: KvLayout, a: KvCache, b: KvCache): KvCache {
  if (batchSize(a) === 0) return b;
  if (batchSize(b) === 0) return a;
  return assemble(layout, [
    ...a.pads.map((_, row) => ({ cache: a, row })),
    ...b.pads.map((_, row) => ({ cache: b, row })),
  ]);
}

/** Only the given rows, in the given order; padding no remaining row needs is dropped. */
export function keepRows(layout: KvLayout, cache: KvCache, rows: readonly number[]): KvCache {
  if (rows.length === batchSize(cache) && rows.every((r, i) => r === i)) return cache;
  return assemble(layout, rows.map((row) => ({ cache, row })));
}
