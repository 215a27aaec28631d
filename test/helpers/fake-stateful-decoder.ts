// A stand-in for an OpenVINO stateful decoder (openvino-node cannot install here): each infer
// request keeps its rows' token histories as its state, gathers them by beam_idx before a run as
// OpenVINO does, checks the masks and positions it is fed, and answers logits that are a pure
// function of each row's history, so a test can say what every row's logits must be.
import type { StatefulDecoder, StatefulRequest } from '../../runtime/backends/openvino-stateful-session.ts';

export const FAKE_VOCAB = 16;

/** The logits a row with this history gets: deterministic, different for every history. */
export function logitsAfter(history: readonly number[]): Float32Array {
  const out = new Float32Array(FAKE_VOCAB);
  let h = 2166136261;
  for (const t of history) h = Math.imul(h ^ (t + 1), 16777619) >>> 0;
  for (let v = 0; v < FAKE_VOCAB; v++) out[v] = ((Math.imul(h ^ (v * 2654435761), 2246822519) >>> 0) % 1000) / 100;
  return out;
}

interface FakeTensor {
  dims: number[];
  data: BigInt64Array | Int32Array;
}

export function createFakeStatefulDecoder(): StatefulDecoder & { runs: number; requests: number } {
  const fake = {
    runs: 0,
    requests: 0,
    padId: 0,
    tensor: (_type: 'i64' | 'i32', dims: number[], data: BigInt64Array | Int32Array): FakeTensor => ({ dims, data }),
    createInferRequest(): StatefulRequest {
      fake.requests++;
      let state: number[][] | undefined; // real tokens per row
      return {
        async inferAsync(inputs) {
          fake.runs++;
          const ids = inputs.input_ids as FakeTensor;
          const mask = inputs.attention_mask as FakeTensor;
          const positions = inputs.position_ids as FakeTensor;
          const beam = inputs.beam_idx as FakeTensor;
          const [n = 0, step = 0] = ids.dims;
          const width = mask.dims[1] as number;
          state = state === undefined ? Array.from({ length: n }, () => []) : Array.from(beam.data as Int32Array, (i) => [...((state as number[][])[Number(i)] as number[])]);
          if (state.length !== n) throw new Error(`beam_idx gathers ${state.length} rows for ${n} inputs`);
          const logits = new Float32Array(n * step * FAKE_VOCAB);
          for (let r = 0; r < n; r++) {
            const history = state[r] as number[];
            for (let t = 0; t < step; t++) {
              const real = Number(mask.data[r * width + width - step + t]) === 1;
              if (real) {
                if (Number(positions.data[r * step + t]) !== history.length) throw new Error(`row ${r}: position ${positions.data[r * step + t]} fed, ${history.length} expected`);
                history.push(Number(ids.data[r * step + t]));
              }
              logits.set(logitsAfter(history), (r * step + t) * FAKE_VOCAB);
            }
            const realPast = [...mask.data.subarray(r * width, r * width + width - step)].filter((m) => Number(m) === 1).length;
            if (realPast !== history.length - [...mask.data.subarray(r * width + width - step, (r + 1) * width)].filter((m) => Number(m) === 1).length) {
              throw new Error(`row ${r}: the mask covers ${realPast} past tokens, the state has ${history.length}`);
            }
          }
          return { logits: { getData: () => logits, getShape: () => [n, step, FAKE_VOCAB] } };
        },
      };
    },
  };
  return fake;
}
