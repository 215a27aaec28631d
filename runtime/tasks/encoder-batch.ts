// Builds right-padded encoder feeds (input_ids, attention_mask, token_type_ids) for one batch.
import type { Backend, Feeds, Tensor } from '../backends/backend.ts';
import { RuntimeError } from '../errors.ts';

export interface EncoderSequence {
  ids: readonly number[];
  typeIds: readonly number[];
}

export interface PaddedBatch {
  feeds: Feeds;
  /** Longest sequence: the padded width. */
  width: number;
}

export function padEncoderBatch(backend: Backend, sequences: readonly EncoderSequence[], padId: number): PaddedBatch {
  const width = sequences.reduce((m, s) => Math.max(m, s.ids.length), 0);
  const size = sequences.length * width;
  const ids = new BigInt64Array(size).fill(BigInt(padId));
  const mask = new BigInt64Array(size);
  const types = new BigInt64Array(size);
  sequences.forEach((s, row) => {
    const base = row * width;
    for (let i = 0; i < s.ids.length; i++) {
      ids[base + i] = BigInt(s.ids[i] as number);
      mask[base + i] = 1n;
      types[base + i] = BigInt(s.typeIds[i] ?? 0);
    }
  });
  const dims = [sequences.length, width];
  const available: Record<string, Tensor> = {
    input_ids: { type: 'int64', data: ids, dims },
    attention_mask: { type: 'int64', data: mask, dims },
    token_type_ids: { type: 'int64', data: types, dims },
  };
  const feeds: Feeds = {};
  for (const input of backend.inputs) {
    const tensor = available[input.name];
    if (!tensor) throw new RuntimeError('internal', `encoder model input "${input.name}" is not one this server can fill`);
    feeds[input.name] = tensor;
  }
  return { feeds, width };
}
