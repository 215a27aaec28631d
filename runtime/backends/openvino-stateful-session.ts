// The DecoderSession of an OpenVINO stateful decoder (what `optimum-cli export openvino` writes:
// inputs input_ids, attention_mask, position_ids, beam_idx; the KV cache lives inside the infer
// request as state). openvino-node exposes no state API, so a request's state is steered only
// through beam_idx, which gathers its rows before each run: keep-rows and fork are a beam_idx
// of the rows to keep (duplicates fork). Rows prefilled together share one request (a group);
// a decode runs every group at once, and the logits come back in the session's row order.
import type { DecoderSession, PrefillLogits } from './backend.ts';

/** The few calls of an OpenVINO compiled stateful decoder this session makes (openvino-node's API). */
export interface StatefulRequest {
  /** Outputs as openvino-node tensors; logits are f32, so getData() gives a Float32Array. */
  inferAsync(inputs: Record<string, StatefulTensor>): Promise<Record<string, { getData(): unknown; getShape(): number[] }>>;
}
export type StatefulTensor = unknown;
export interface StatefulDecoder {
  /** A new infer request: empty state. */
  createInferRequest(): StatefulRequest;
  /** openvino-node's `new Tensor(type, shape, data)`. */
  tensor(type: 'i64' | 'i32', dims: number[], data: BigInt64Array | Int32Array): StatefulTensor;
  padId: number;
}

interface Group {
  request: StatefulRequest;
  /** This group's state rows, in state order: how many cached positions each has (padding included). */
  width: number;
  /** Leading padding per state row. */
  pads: number[];
  /** Real tokens per state row. */
  lengths: number[];
  /** State rows to gather before the next run (identity when undefined). */
  gather: number[] | undefined;
}

/** A session row: which group holds it, and where in that group's state. */
interface Row {
  group: Group;
  slot: number;
}

const i64 = (decoder: StatefulDecoder, values: readonly number[], dims: number[]) => decoder.tensor('i64', dims, BigInt64Array.from(values, BigInt));
const i32 = (decoder: StatefulDecoder, values: readonly number[], dims: number[]) => decoder.tensor('i32', dims, Int32Array.from(values));

export function createStatefulSession(decoder: StatefulDecoder): DecoderSession {
  let rows: Row[] = [];

  /** One run of a group: the gather it owes, then `tokens` per (gathered) row, padded on the left. */
  async function run(group: Group, tokens: ReadonlyArray<readonly number[]>): Promise<Float32Array> {
    const gather = group.gather ?? group.pads.map((_, i) => i);
    const n = gather.length;
    const step = Math.max(...tokens.map((t) => t.length));
    const ids: number[] = [];
    const positions: number[] = [];
    const mask: number[] = [];
    const width = group.width + step;
    tokens.forEach((t, r) => {
      const lead = step - t.length;
      for (let i = 0; i < step; i++) ids.push(i < lead ? decoder.padId : (t[i - lead] as number));
      const base = group.lengths[r] as number;
      for (let i = 0; i < step; i++) positions.push(i < lead ? 0 : base + i - lead);
      const pad = (group.pads[r] as number) + lead;
      for (let i = 0; i < width; i++) mask.push(i < pad ? 0 : 1);
    });
    const outputs = await group.request.inferAsync({
      input_ids: i64(decoder, ids, [n, step]),
      attention_mask: i64(decoder, mask, [n, width]),
      position_ids: i64(decoder, positions, [n, step]),
      beam_idx: i32(decoder, gather, [n]),
    });
    group.gather = undefined;
    group.width = width;
    group.pads = group.pads.map((p, r) => p + step - (tokens[r] as readonly number[]).length);
    group.lengths = group.lengths.map((l, r) => l + (tokens[r] as readonly number[]).length);
    const logits = outputs.logits;
    if (!logits) throw new Error('the stateful decoder returned no logits');
    return Float32Array.from(logits.getData() as ArrayLike<number>);
  }

  /** Re-points every group at the rows that still use it (a gather applied at its next run). */
  function regather(next: Row[]): void {
    const groups = new Set(next.map((r) => r.group));
    for (const group of groups) {
      const mine = next.filter((r) => r.group === group);
      const gather = mine.map((r) => r.slot);
      group.pads = gather.map((s) => group.pads[s] as number);
      group.lengths = gather.map((s) => group.lengths[s] as number);
      const previous = group.gather;
      group.gather = previous ? gather.map((s) => previous[s] as number) : gather;
      mine.forEach((r, i) => (r.slot = i));
    }
    rows = next;
  }

  return {
    get rows() {
      return rows.length;
    },

    async prefill(prompts) {
      const group: Group = { request: decoder.createInferRequest(), width: 0, pads: prompts.map(() => 0), lengths: prompts.map(() => 0), gather: undefined };
      const logits = await run(group, prompts);
      const step = Math.max(...prompts.map((p) => p.length));
      const vocab = logits.length / (prompts.length * step);
      rows = [...rows, ...prompts.map((_, slot) => ({ group, slot }))];
      const at = (row: number, t: number) => {
        const lead = step - (prompts[row] as readonly number[]).length;
        const offset = (row * step + lead + t) * vocab;
        return logits.subarray(offset, offset + vocab);
      };
      const result: PrefillLogits = { at, last: (row) => at(row, (prompts[row] as readonly number[]).length - 1) };
      return result;
    },

    async decode(tokens) {
      const groups = [...new Set(rows.map((r) => r.group))];
      // Every group runs at once; each gets its rows' tokens in state order.
      const results = await Promise.all(
        groups.map((group) => {
          const byslot: number[][] = [];
          rows.forEach((r, i) => {
            if (r.group === group) byslot[r.slot] = [tokens[i] as number];
          });
          return run(group, byslot);
        }),
      );
      const vocab = (results[0] as Float32Array).length / rows.filter((r) => r.group === groups[0]).length;
      const out = new Float32Array(rows.length * vocab);
      rows.forEach((r, i) => {
        const logits = results[groups.indexOf(r.group)] as Float32Array;
        out.set(logits.subarray(r.slot * vocab, (r.slot + 1) * vocab), i * vocab);
      });
      return out;
    },

    keepRows(keep) {
      regather(keep.map((i) => ({ ...(rows[i] as Row) })));
    },

    fork(row, copies) {
      const source = rows[row] as Row;
      regather([...rows.map((r) => ({ ...r })), ...Array.from({ length: copies }, () => ({ ...source }))]);
    },

    reset() {
      rows = [];
    },
  };
}
