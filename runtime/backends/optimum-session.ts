// The DecoderSession of an Optimum-exported decoder (inputs input_ids, attention_mask,
// position_ids, past_key_values.*; outputs logits, present.*), over any Backend: one left-padded
// batched KV cache, grown by prefills, advanced by decodes, trimmed when rows leave.
import {
  attentionMask,
  cacheFromOutputs,
  emptyCache,
  keepRows,
  mergeCaches,
  pastFeeds,
  type KvCache,
  type KvLayout,
} from '../generation/kv-cache.ts';
import { RuntimeError } from '../errors.ts';
import type { ModelManifest } from '../manifest.ts';
import type { Backend, DecoderSession, Feeds, PrefillLogits, Tensor } from './backend.ts';

export interface OptimumDecoder {
  backend: Backend;
  layout: KvLayout;
  hasPositionIds: boolean;
  /** Written on padded positions (masked out, so any id would do). */
  padId: number;
}

const KNOWN_INPUTS = /^(input_ids|attention_mask|position_ids|past_key_values\.\d+\.(key|value))$/;

/** The KV layout of an Optimum decoder from its graph inputs (config.json fills symbolic dims). */
function kvLayout(backend: Backend, manifest: ModelManifest): KvLayout {
  const unknown = backend.inputs.filter((i) => !KNOWN_INPUTS.test(i.name)).map((i) => i.name);
  if (unknown.length) throw new RuntimeError('internal', `${manifest.dir}: decoder inputs not supported: ${unknown.join(', ')}`);
  const past = backend.inputs.filter((i) => i.name.startsWith('past_key_values.'));
  if (past.length === 0) throw new RuntimeError('internal', `${manifest.dir}: the decoder has no past_key_values inputs (export it with a KV cache)`);
  const layer = (name: string) => Number(name.split('.')[1]);
  past.sort((a, b) => layer(a.name) - layer(b.name) || a.name.localeCompare(b.name));
  const first = past[0] as (typeof past)[number];
  const cfg = manifest.hfConfig;
  const heads = Number(cfg.num_attention_heads);
  const fromConfig = {
    kvHeads: Number(cfg.num_key_value_heads ?? heads),
    headDim: Number(cfg.head_dim ?? Number(cfg.hidden_size) / heads),
  };
  return {
    names: past.map((p) => ({ past: p.name, present: p.name.replace('past_key_values.', 'present.') })),
    kvHeads: typeof first.shape[1] === 'number' ? first.shape[1] : fromConfig.kvHeads,
    headDim: typeof first.shape[3] === 'number' ? first.shape[3] : fromConfig.headDim,
    type: first.type,
  };
}

const firstId = (value: unknown): number | undefined => (typeof value === 'number' ? value : Array.isArray(value) && typeof value[0] === 'number' ? value[0] : undefined);

/** How to drive an Optimum-exported decoder: its KV layout, position input and pad id. */
export function optimumDecoderOf(backend: Backend, manifest: ModelManifest): OptimumDecoder {
  const g = manifest.generationConfig;
  const h = manifest.hfConfig;
  return {
    backend,
    layout: kvLayout(backend, manifest),
    hasPositionIds: backend.inputs.some((i) => i.name === 'position_ids'),
    padId: firstId(g.pad_token_id) ?? firstId(h.pad_token_id) ?? firstId(g.eos_token_id) ?? firstId(h.eos_token_id) ?? 0,
  };
}

const i64 = (values: ArrayLike<number>, dims: number[]): Tensor => ({ type: 'int64', data: BigInt64Array.from(Array.from(values, BigInt)), dims });

export function createOptimumSession(model: OptimumDecoder): DecoderSession {
  const { backend, layout } = model;
  let cache: KvCache = emptyCache(layout, 0);
  /** Real tokens per row (prompt and generated): the next position of each. */
  let lengths: number[] = [];

  const logitsOf = (outputs: Record<string, Tensor>) => outputs.logits?.data as Float32Array;

  return {
    get rows() {
      return lengths.length;
    },

    /** All prompts in one left-padded run; their caches join the batch's. */
    async prefill(prompts) {
      const width = Math.max(...prompts.map((p) => p.length));
      const pads = prompts.map((p) => width - p.length);
      const ids = new Array<number>(prompts.length * width).fill(model.padId);
      const positions = new Array<number>(prompts.length * width).fill(1);
      prompts.forEach((prompt, row) => {
        prompt.forEach((token, t) => {
          ids[row * width + (pads[row] as number) + t] = token;
          positions[row * width + (pads[row] as number) + t] = t;
        });
      });
      const empty = emptyCache(layout, prompts.length);
      const feeds: Feeds = {
        input_ids: i64(ids, [prompts.length, width]),
        attention_mask: attentionMask({ ...empty, pads }, width),
        ...pastFeeds(layout, empty),
      };
      if (model.hasPositionIds) feeds.position_ids = i64(positions, [prompts.length, width]);
      const outputs = await backend.run(feeds);
      const logits = logitsOf(outputs);
      const vocab = logits.length / (prompts.length * width);
      cache = mergeCaches(layout, cache, cacheFromOutputs(layout, outputs, pads));
      lengths = [...lengths, ...prompts.map((p) => p.length)];
      const at = (row: number, t: number): Float32Array => {
        const offset = (row * width + (pads[row] as number) + t) * vocab;
        return logits.subarray(offset, offset + vocab);
      };
      const result: PrefillLogits = { at, last: (row) => at(row, (prompts[row] as readonly number[]).length - 1) };
      return result;
    },

    /** Every row advances one token in one run. */
    async decode(tokens) {
      const rows = lengths.length;
      const feeds: Feeds = {
        input_ids: i64(tokens, [rows, 1]),
        attention_mask: attentionMask(cache, 1),
        ...pastFeeds(layout, cache),
      };
      if (model.hasPositionIds) feeds.position_ids = i64(lengths, [rows, 1]);
      const outputs = await backend.run(feeds);
      cache = cacheFromOutputs(layout, outputs, cache.pads);
      lengths = lengths.map((n) => n + 1);
      return logitsOf(outputs);
    },

    keepRows(rows) {
      cache = keepRows(layout, cache, rows);
      lengths = rows.map((row) => lengths[row] as number);
    },

    fork(row, copies) {
      const all = [...lengths.keys(), ...new Array<number>(copies).fill(row)];
      cache = keepRows(layout, cache, all);
      lengths = all.map((r) => lengths[r] as number);
    },

    reset() {
      cache = emptyCache(layout, 0);
      lengths = [];
    },
  };
}
