import { describe, expect, it } from 'vitest';
import { attentionMask, keepRows, mergeCaches, type KvCache, type KvLayout } from '../../runtime/generation/kv-cache.ts';

// One tensor, 1 head, head_dim 1: each cached value is its own label.
const layout: KvLayout = { names: [{ past: 'p', present: 'q' }], kvHeads: 1, headDim: 1, type: 'float32' };
const cache = (rows: number[][], length: number): KvCache => ({
  tensors: [{ type: 'float32', data: Float32Array.from(rows.flatMap((r) => [...new Array(length - r.length).fill(0), ...r])), dims: [rows.length, 1, length, 1] }],
  length,
  pads: rows.map((r) => length - r.length),
});
const rowsOf = (c: KvCache) => Array.from({ length: c.pads.length }, (_, r) => [...(c.tensors[0]!.data as Float32Array).slice(r * c.length, (r + 1) * c.length)]);

describe('batched KV cache', () => {
  it('merges two caches left-padded to the longer one', () => {
    const merged = mergeCaches(layout, cache([[1, 2, 3]], 3), cache([[7]], 1));
    expect(merged.length).toBe(3);
    expect(merged.pads).toEqual([0, 2]);
    expect(rowsOf(merged)).toEqual([[1, 2, 3], [0, 0, 7]]);
  });

  it('keeps rows in order and trims padding no remaining row needs', () => {
    const c = cache([[1, 2, 3, 4], [5, 6], [9]], 4);
    const kept = keepRows(layout, c, [1, 2]);
    expect(kept.length).toBe(2);
    expect(kept.pads).toEqual([0, 1]);
    expect(rowsOf(kept)).toEqual([[5, 6], [0, 9]]);
  });

  it('masks pads with 0 and real and new positions with 1', () => {
    const mask = attentionMask(cache([[1, 2], [3]], 2), 1);
    expect(mask.dims).toEqual([2, 3]);
    expect([...(mask.data as BigInt64Array)].map(Number)).toEqual([1, 1, 1, 0, 1, 1]);
  });

  it('copies every head and feature of a row', () => {
    const wide: KvLayout = { ...layout, kvHeads: 2, headDim: 2 };
    // [1 row, 2 heads, length 1, dim 2] joins a 2-long cache: each head's block moves right.
    const a: KvCache = { tensors: [{ type: 'float32', data: Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4]), dims: [1, 2, 2, 2] }], length: 2, pads: [0] };
    const b: KvCache = { tensors: [{ type: 'float32', data: Float32Array.from([5, 6, 7, 8]), dims: [1, 2, 1, 2] }], length: 1, pads: [0] };
    const merged = mergeCaches(wide, a, b);
    expect([...(merged.tensors[0]!.data as Float32Array)]).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 0, 0, 5, 6, 0, 0, 7, 8]);
  });

  it('moves float16 caches (raw 16-bit words) the same way', () => {
    const half: KvLayout = { ...layout, type: 'float16' };
    const a: KvCache = { tensors: [{ type: 'float16', data: Uint16Array.from([0x3c00, 0x4000]), dims: [1, 1, 2, 1] }], length: 2, pads: [0] };
    const b: KvCache = { tensors: [{ type: 'float16', data: Uint16Array.from([0x4200]), dims: [1, 1, 1, 1] }], length: 1, pads: [0] };
    const merged = mergeCaches(half, a, b);
    expect(merged.tensors[0]!.data).toBeInstanceOf(Uint16Array);
    expect([...merged.tensors[0]!.data as Uint16Array]).toEqual([0x3c00, 0x4000, 0, 0x4200]);
    expect([...keepRows(half, merged, [1]).tensors[0]!.data as Uint16Array]).toEqual([0x4200]);
  });
});
