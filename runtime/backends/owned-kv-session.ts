// The DecoderSession of a fused decoder (runtime/onnx/fused-llama.ts) whose KV cache the runtime
// owns: one preallocated buffer per layer and kind, [row capacity, kv_heads, position capacity,
// head_dim]. A run reads the first `rows` rows of each buffer in place and returns only the new
// positions' keys and values, which are written into the buffers; the buffers travel to the
// inference worker and back without a copy. A decode step therefore costs O(new tokens) outside
// the graph, rows that leave cost O(their context) once, and nothing re-copies the whole batch.
import { RuntimeError } from '../errors.ts';
import { HOLD, type Backend, type DecoderSession, type ExtendRun, type Feeds, type PrefillLogits, type Tensor } from './backend.ts';

export interface OwnedKvDecoder {
  backend: Backend;
  layers: number;
  kvHeads: number;
  headDim: number;
  /** Positions one row may hold (the model's context); the buffers never grow past it. */
  maxPositions: number;
  /** Rows the scheduler runs at most (max_running_sequences): the buffers are allocated for them. */
  maxRows?: number;
}

/**
 * Positions are added in steps of this many. Rows then move within their buffers (a memmove of what
 * they hold, and the first touch of the pages they grow into), so small steps spread that cost.
 */
const POSITION_STEP = 64;
/**
 * Positions per row the buffers are first allocated for (with maxRows rows). The OS maps a page
 * when it is first written, so what no row has reached costs no memory; and growing within the
 * allocation moves rows in place instead of writing fresh pages, whose first touch costs here
 * about 1.5 ms a MiB (a 1,000-token prompt joining 7 streams used to stall them 0.3–1.4 s).
 */
const PREALLOCATED_POSITIONS = 4096;

const pastName = (layer: number, kind: number) => `past_key_values.${layer}.${kind === 0 ? 'key' : 'value'}`;
const newName = (layer: number, kind: number) => `new.${layer}.${kind === 0 ? 'key' : 'value'}`;

/** Input name prefixes of a run's two token groups (fused-llama.ts). */
const GROUP_PREFIXES = ['', 'b.'] as const;

/** One token group of a run: rows `first..` fed `tokens` (right-padded) over their caches, or new rows (`held` false). */
interface GroupFeed {
  first: number;
  tokens: ReadonlyArray<readonly number[]>;
  held: boolean;
  /** Which of the group's flattened [rows * width] positions get logits. */
  wanted: (width: number) => number[];
}

/** The group a one-group run feeds as its second: no rows. */
const EMPTY_GROUP: GroupFeed = { first: 0, tokens: [], held: false, wanted: () => [] };

/** The fused layout, recognised by its inputs and outputs: two token groups, logits and new.{i}.key/value per layer. */
export function ownedKvDecoderOf(backend: Backend, maxPositions: number, maxRows?: number): OwnedKvDecoder | undefined {
  const news = backend.outputs.filter((o) => /^new\.\d+\.key$/.test(o.name));
  const past = backend.inputs.find((i) => i.name === 'past_key_values.0.key');
  const grouped = backend.inputs.some((i) => i.name === 'b.input_ids');
  if (news.length === 0 || !past || !grouped || !backend.outputs.some((o) => o.name === 'logits')) return undefined;
  const kvHeads = past.shape[1];
  const headDim = past.shape[3];
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number') return undefined;
  return { backend, layers: news.length, kvHeads, headDim, maxPositions, maxRows };
}

const i64 = (values: ArrayLike<number>, dims: number[]): Tensor => ({ type: 'int64', data: BigInt64Array.from(Array.from(values, BigInt)), dims });

/**
 * attention_mask [rows, capacity + S]: ones on each row's `used[b]` cache positions, then on its
 * `fresh[b]` real tokens of this run's S.
 */
function cacheMask(used: readonly number[], capacity: number, fresh: readonly number[], width: number): Tensor {
  const stride = capacity + width;
  const data = new BigInt64Array(used.length * stride);
  used.forEach((n, row) => {
    data.fill(1n, row * stride, row * stride + n);
    data.fill(1n, row * stride + capacity, row * stride + capacity + (fresh[row] as number));
  });
  return { type: 'int64', data, dims: [used.length, stride] };
}

/**
 * A prefill's logits as the engine returns them: one row per position asked for, in order — row r's
 * every position when `every[r]`, else its last — for prompts `lengths[r]` long.
 */
export interface RawPrefill {
  logits: Float32Array;
  lengths: number[];
  every: boolean[];
}

/** Which flattened [n * width] positions get logits: each row's last, or all of them. */
function logitRows(lengths: readonly number[], every: readonly boolean[], width: number): number[] {
  const rows: number[] = [];
  lengths.forEach((n, r) => {
    if (every[r]) for (let t = 0; t < n; t++) rows.push(r * width + t);
    else if (n > 0) rows.push(r * width + n - 1);
  });
  return rows;
}

export function prefillLogitsOf({ logits, lengths, every }: RawPrefill): PrefillLogits {
  const firstRow: number[] = [];
  let next = 0;
  lengths.forEach((n, r) => {
    firstRow.push(next);
    next += every[r] ? n : Math.min(n, 1); // a row fed nothing (extend) has no logits
  });
  const vocab = logits.length / next;
  const at = (row: number, t: number) => {
    const last = (lengths[row] as number) - 1;
    if (!every[row] && t !== last) throw new RuntimeError('internal', `prompt ${row}: logits at position ${t} were not asked for`);
    const index = (firstRow[row] as number) + (every[row] ? t : 0);
    return logits.subarray(index * vocab, (index + 1) * vocab);
  };
  return { at, last: (row) => at(row, (lengths[row] as number) - 1) };
}

/** Positions per prefix-cache block. */
export const BLOCK_SIZE = 16;

/** The session's work where the buffers live: DecoderSession, with the runs' logits unwrapped. */
export interface OwnedKvEngine {
  readonly rows: number;
  prefill(prompts: ReadonlyArray<readonly number[]>, everyPosition?: readonly boolean[]): Promise<RawPrefill>;
  extend(first: number, tokens: ReadonlyArray<readonly number[]>, everyPosition?: readonly boolean[]): Promise<RawPrefill>;
  extendPair(a: ExtendRun, b: ExtendRun): Promise<[RawPrefill, RawPrefill]>;
  decode(tokens: readonly number[]): Promise<Float32Array>;
  keepRows(rows: readonly number[]): void;
  fork(row: number, copies: number): void;
  truncate(row: number, length: number): void;
  reset(): void;
  saveBlocks(row: number, firstBlock: number, ids: readonly number[]): void;
  openBlocks(ids: readonly number[], positions?: number): void;
  dropBlocks(ids: readonly number[]): void;
}

/** A DecoderSession over an engine, here or (through messages) in the inference worker. */
export function sessionOverEngine(engine: OwnedKvEngine): DecoderSession {
  return {
    get rows() {
      return engine.rows;
    },
    prefill: async (prompts, everyPosition) => prefillLogitsOf(await engine.prefill(prompts, everyPosition)),
    extend: async (first, tokens, everyPosition) => prefillLogitsOf(await engine.extend(first, tokens, everyPosition)),
    extendPair: async (a, b) => (await engine.extendPair(a, b)).map(prefillLogitsOf) as [PrefillLogits, PrefillLogits],
    decode: (tokens) => engine.decode(tokens),
    keepRows: (rows) => engine.keepRows(rows),
    fork: (row, copies) => engine.fork(row, copies),
    truncate: (row, length) => engine.truncate(row, length),
    reset: () => engine.reset(),
    blocks: {
      size: BLOCK_SIZE,
      save: (row, firstBlock, ids) => engine.saveBlocks(row, firstBlock, ids),
      open: (ids, positions) => engine.openBlocks(ids, positions),
      drop: (ids) => engine.dropBlocks(ids),
    },
  };
}

export function createOwnedKvSession(model: OwnedKvDecoder): DecoderSession {
  return sessionOverEngine(createOwnedKvEngine(model));
}

export function createOwnedKvEngine(model: OwnedKvDecoder): OwnedKvEngine {
  const { backend, layers, kvHeads: H, headDim: D } = model;
  const kinds = 2 * layers;
  /** Real tokens per row: each row's next position. */
  let lengths: number[] = [];
  let rowCapacity = 0;
  let positionCapacity = 0;
  let buffers: Float32Array[] = [];

  const rowStride = () => H * positionCapacity * D;

  /** Copies row `from` of `source` (capacity `sourcePositions`) into row `to` of `target`, `length` positions. */
  function copyRow(source: Float32Array, sourcePositions: number, from: number, target: Float32Array, to: number, length: number) {
    for (let h = 0; h < H; h++) {
      const src = (from * H + h) * sourcePositions * D;
      const dst = (to * H + h) * positionCapacity * D;
      // Within one buffer, copyWithin moves in place (set() may clone the source first).
      if (source === target) target.copyWithin(dst, src, src + length * D);
      else target.set(source.subarray(src, src + length * D), dst);
    }
  }

  /** Row `row` of a buffer into a one-row array of the same position capacity, `length` positions. */
  function copyRowInto(source: Float32Array, row: number, target: Float32Array, length: number) {
    for (let h = 0; h < H; h++) {
      const src = (row * H + h) * positionCapacity * D;
      target.set(source.subarray(src, src + length * D), h * positionCapacity * D);
    }
  }

  /** Room for `rows` rows of up to `positions` positions; existing rows keep their contents. */
  function reserve(rows: number, positions: number) {
    if (positions > model.maxPositions) throw new RuntimeError('invalid_request', `the sequence needs ${positions} positions; the model holds ${model.maxPositions}`);
    if (rows <= rowCapacity && positions <= positionCapacity) return;
    const oldPositions = positionCapacity;
    // Rows double (up to maxRows), so sequences joining one by one re-lay the buffers out a few times, not each time.
    if (rows > rowCapacity) rowCapacity = Math.max(rows, Math.min(rowCapacity * 2, model.maxRows ?? Infinity));
    if (positions > positionCapacity) positionCapacity = Math.min(model.maxPositions, Math.ceil(positions / POSITION_STEP) * POSITION_STEP);
    const needed = rowCapacity * rowStride();
    if (buffers.length > 0 && (buffers[0] as Float32Array).length >= needed) return relayOut(oldPositions);
    const old = buffers;
    const allocated = Math.max(needed, (model.maxRows ?? 0) * H * Math.min(model.maxPositions, PREALLOCATED_POSITIONS) * D);
    buffers = Array.from({ length: kinds }, () => new Float32Array(allocated));
    old.forEach((source, k) => lengths.forEach((n, row) => copyRow(source, oldPositions, row, buffers[k] as Float32Array, row, n)));
  }

  /** Rows move to the new position stride within their buffers: each block moves up, so the last goes first. */
  function relayOut(oldPositions: number) {
    if (oldPositions === positionCapacity) return;
    for (const buffer of buffers) {
      for (let row = lengths.length - 1; row >= 0; row--) {
        for (let h = H - 1; h >= 0; h--) {
          const src = (row * H + h) * oldPositions * D;
          buffer.copyWithin((row * H + h) * positionCapacity * D, src, src + (lengths[row] as number) * D);
        }
      }
    }
  }

  /** Writes a group's new.* positions (tokens from `base` of the run's [tokens, 1, H * D]) for rows `firstRow..` at each row's `starts`. */
  function writeNew(outputs: Record<string, Tensor>, base: number, firstRow: number, starts: readonly number[], counts: readonly number[], width: number) {
    for (let k = 0; k < kinds; k++) {
      const fresh = outputs[newName(k >> 1, k & 1)]?.data as Float32Array | undefined;
      if (!fresh) throw new RuntimeError('internal', `the decoder did not return ${newName(k >> 1, k & 1)}`);
      const buffer = buffers[k] as Float32Array;
      starts.forEach((start, r) => {
        const row = firstRow + r;
        for (let t = 0; t < (counts[r] as number); t++) {
          for (let h = 0; h < H; h++) {
            const src = ((base + r * width + t) * H + h) * D;
            buffer.set(fresh.subarray(src, src + D), ((row * H + h) * positionCapacity + start + t) * D);
          }
        }
      });
    }
  }

  /**
   * One run of up to two token groups (fused-llama.ts): each feeds its rows their tokens
   * (right-padded) over the rows' caches, or, for new rows, over none; their new positions are
   * written into the buffers and new rows are appended after the held ones. Returns each group's
   * logits rows (views of one array).
   */
  async function run(groups: readonly GroupFeed[]): Promise<Float32Array[]> {
    const all = [...groups, ...Array.from({ length: 2 - groups.length }, () => EMPTY_GROUP)];
    const plans = all.map((group) => {
      const n = group.tokens.length;
      const width = Math.max(1, ...group.tokens.map((t) => t.length));
      const used = group.held ? lengths.slice(group.first, group.first + n) : new Array<number>(n).fill(0);
      if (used.length !== n) throw new RuntimeError('internal', `rows ${group.first}..${group.first + n - 1} do not exist (${lengths.length} held)`);
      return { group, n, width, used, counts: group.tokens.map((t) => t.length), wanted: group.wanted(width) };
    });
    const added = plans.reduce((rows, p) => rows + (p.group.held ? 0 : p.n), 0);
    const longest = Math.max(1, ...plans.flatMap((p) => p.used.map((u, r) => u + (p.counts[r] as number))));
    reserve(lengths.length + added, longest);
    const feeds: Feeds = {};
    const kept: string[] = [];
    const wanted: number[] = [];
    let base = 0;
    plans.forEach(({ group, n, width, used, counts, wanted: positionsWanted }, index) => {
      const prefix = GROUP_PREFIXES[index] as string;
      // The second group attends over its rows' span of the buffer only (fused-llama.ts slices it).
      const span = !group.held ? 0 : index === 1 ? spanOf(used) : positionCapacity;
      const ids = new Array<number>(n * width).fill(0);
      const positions = new Array<number>(n * width).fill(0);
      group.tokens.forEach((row, r) => {
        for (let t = 0; t < width; t++) positions[r * width + t] = (used[r] as number) + t;
        row.forEach((token, t) => (ids[r * width + t] = token));
      });
      feeds[`${prefix}input_ids`] = i64(ids, [n, width]);
      feeds[`${prefix}position_ids`] = i64(positions, [n, width]);
      feeds[`${prefix}attention_mask`] = cacheMask(used, span, counts, width);
      for (let k = 0; k < kinds; k++) {
        const name = `${prefix}${pastName(k >> 1, k & 1)}`;
        if (!group.held) feeds[name] = { type: 'float32', data: new Float32Array(0), dims: [n, H, 0, D] };
        else {
          feeds[name] = { type: 'float32', data: (buffers[k] as Float32Array).subarray(group.first * rowStride(), (group.first + n) * rowStride()), dims: [n, H, positionCapacity, D] };
          kept.push(name);
        }
      }
      wanted.push(...positionsWanted.map((position) => position + base));
      base += n * width;
    });
    feeds.logits_rows = i64(wanted, [wanted.length]);
    let outputs: Record<string, Tensor>;
    try {
      outputs = await backend.run(feeds, undefined, kept);
    } catch (err) {
      dropEverything(); // the buffers went to the worker and did not come back
      throw err;
    }
    if (kept.length > 0) reclaim(outputs, kept.slice(0, kinds));
    base = 0;
    let appended = lengths.length;
    for (const { group, n, width, used, counts } of plans) {
      const firstRow = group.held ? group.first : appended;
      writeNew(outputs, base, firstRow, used, counts, width);
      if (group.held) counts.forEach((c, r) => (lengths[firstRow + r] = (used[r] as number) + c));
      else {
        lengths = [...lengths, ...counts];
        appended += n;
      }
      base += n * width;
    }
    const logits = outputs.logits?.data as Float32Array;
    const vocab = wanted.length > 0 ? logits.length / wanted.length : 0;
    let at = 0;
    return plans.map((plan) => {
      const rows = plan.wanted.length;
      const view = logits.subarray(at * vocab, (at + rows) * vocab);
      at += rows;
      return view;
    });
  }

  /** Prefix-cache blocks by id: [kind][H * BLOCK_SIZE * D], head-major like a row. */
  const blocks = new Map<number, Float32Array[]>();

  /** Takes the buffers back from a run's result (they crossed to the worker and returned). */
  function reclaim(outputs: Record<string, Tensor>, names: readonly string[]) {
    buffers = names.map((name) => {
      const t = outputs[name];
      if (!t) throw new RuntimeError('internal', `the backend did not hand back ${name}`);
      return new Float32Array(t.data.buffer as ArrayBuffer); // the whole buffer, not the rows fed
    });
  }

  /** The positions a held group's attention needs to read: its longest row, in whole position steps, within the buffer's stride. */
  const spanOf = (used: readonly number[]) => Math.min(positionCapacity, Math.ceil(Math.max(0, ...used) / POSITION_STEP) * POSITION_STEP);

  /**
   * Extends of held rows, one token group each, in one run. A row given no tokens is held, as in a
   * decode. A lone extend whose rows hold less than the buffer's stride (a prompt chunk beside
   * longer rows) runs as the second group, which reads only its rows' span of the cache.
   */
  async function extendRuns(runs: readonly ExtendRun[]): Promise<RawPrefill[]> {
    const shapes = runs.map(({ tokens, everyPosition = [] }) => ({ counts: tokens.map((t) => t.length), every: tokens.map((_, r) => everyPosition[r] === true) }));
    const groups: GroupFeed[] = runs.map(({ first, tokens }, i) => ({ first, tokens, held: true, wanted: (width: number) => logitRows((shapes[i] as (typeof shapes)[number]).counts, (shapes[i] as (typeof shapes)[number]).every, width) }));
    const lone = groups.length === 1 ? (groups[0] as GroupFeed) : undefined;
    const second = lone !== undefined && spanOf(lengths.slice(lone.first, lone.first + lone.tokens.length)) < positionCapacity;
    const logits = second ? (await run([EMPTY_GROUP, lone])).slice(1) : await run(groups);
    return shapes.map(({ counts, every }, i) => ({ logits: logits[i] as Float32Array, lengths: counts, every }));
  }

  function dropEverything() {
    lengths = [];
    rowCapacity = 0;
    positionCapacity = 0;
    buffers = [];
  }

  function keepRows(order: readonly number[]): void {
    if (order.length === lengths.length && order.every((r, i) => r === i)) return;
    reserve(order.length, Math.max(1, ...order.map((r) => lengths[r] as number)));
    // Only rows that change source are copied, in place. Rows moving down (a compaction after
    // rows leave) go in increasing order, so each is read before anything overwrites it; rows
    // moving up (forks, reorders) go after, in decreasing order. Only a row moving up whose source
    // a downward move overwrote is read from a snapshot (fresh memory costs ~1.5 ms per MiB here:
    // snapshots made a 6-row compaction take 140 ms).
    const moves = order.map((from, to) => ({ from, to })).filter(({ from, to }) => from !== to);
    const down = moves.filter(({ from, to }) => from > to);
    const up = moves.filter(({ from, to }) => from < to).reverse();
    const overwritten = new Set(down.map(({ to }) => to));
    const snapshots = new Map<number, Float32Array[]>();
    for (const { from } of up) {
      if (!overwritten.has(from) || snapshots.has(from)) continue;
      snapshots.set(
        from,
        buffers.map((buffer) => {
          const copy = new Float32Array(H * positionCapacity * D);
          copyRowInto(buffer, from, copy, lengths[from] as number);
          return copy;
        }),
      );
    }
    for (const { from, to } of [...down, ...up]) {
      const snapshot = snapshots.get(from);
      buffers.forEach((buffer, k) => {
        if (snapshot) copyRow(snapshot[k] as Float32Array, positionCapacity, 0, buffer, to, lengths[from] as number);
        else copyRow(buffer, positionCapacity, from, buffer, to, lengths[from] as number);
      });
    }
    lengths = order.map((r) => lengths[r] as number);
  }

  return {
    get rows() {
      return lengths.length;
    },

    /** New rows run alone (no past), right-padded; their keys and values join the buffers. */
    async prefill(prompts, everyPosition = []) {
      const promptLengths = prompts.map((p) => p.length);
      const every = prompts.map((_, r) => everyPosition[r] === true);
      const [logits] = await run([{ first: lengths.length, tokens: prompts, held: false, wanted: (width) => logitRows(promptLengths, every, width) }]);
      return { logits: logits as Float32Array, lengths: promptLengths, every };
    },

    async decode(tokens) {
      // A held row is fed nothing (fresh 0): it keeps its length and its cache.
      const [logits] = await run([{ first: 0, tokens: tokens.map((t) => (t === HOLD ? [] : [t])), held: true, wanted: () => [...lengths.keys()] }]);
      return logits as Float32Array;
    },

    async extend(first, tokens, everyPosition = []) {
      const [raw] = await extendRuns([{ first, tokens, everyPosition }]);
      return raw as RawPrefill;
    },

    extendPair: (a, b) => extendRuns([a, b]) as Promise<[RawPrefill, RawPrefill]>,

    keepRows,

    fork(row, copies) {
      keepRows([...lengths.keys(), ...new Array<number>(copies).fill(row)]);
    },

    truncate(row, length) {
      const held = lengths[row];
      if (held === undefined) throw new RuntimeError('internal', `row ${row} does not exist`);
      lengths[row] = Math.max(0, Math.min(held, length));
    },

    reset() {
      lengths = [];
    },

    saveBlocks(row, firstBlock, ids) {
      const held = lengths[row] ?? 0;
      ids.forEach((id, i) => {
        const start = (firstBlock + i) * BLOCK_SIZE;
        if (start + BLOCK_SIZE > held) throw new RuntimeError('internal', `row ${row} holds ${held} positions, not block ${firstBlock + i}`);
        blocks.set(
          id,
          buffers.map((buffer) => {
            const block = new Float32Array(H * BLOCK_SIZE * D);
            for (let h = 0; h < H; h++) {
              const src = ((row * H + h) * positionCapacity + start) * D;
              block.set(buffer.subarray(src, src + BLOCK_SIZE * D), h * BLOCK_SIZE * D);
            }
            return block;
          }),
        );
      });
    },

    openBlocks(ids, positions = 0) {
      const row = lengths.length;
      const length = ids.length * BLOCK_SIZE;
      // Growing the position stride moves every row: done once here, while the rows hold least.
      reserve(row + 1, Math.max(1, length, Math.min(positions, model.maxPositions)));
      ids.forEach((id, i) => {
        const block = blocks.get(id);
        if (!block) throw new RuntimeError('internal', `prefix block ${id} is not held`);
        buffers.forEach((buffer, k) => {
          for (let h = 0; h < H; h++) {
            const dst = ((row * H + h) * positionCapacity + i * BLOCK_SIZE) * D;
            buffer.set((block[k] as Float32Array).subarray(h * BLOCK_SIZE * D, (h + 1) * BLOCK_SIZE * D), dst);
          }
        });
      });
      lengths = [...lengths, length];
    },

    dropBlocks(ids) {
      for (const id of ids) blocks.delete(id);
    },
  };
}
