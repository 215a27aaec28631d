// The OpenVINO backend over a fake openvino-node addon (the real one cannot install here): ports
// read from the addon's strings, feeds and outputs converted, and a stateful decoder (beam_idx)
// offered to text generation, which then generates through its request state.
import { describe, expect, it } from 'vitest';
import { createStatefulSession } from '../../runtime/backends/openvino-stateful-session.ts';
import { createOpenVinoBackend, type OpenVinoAddon } from '../../runtime/backends/openvino.ts';
import { createFakeStatefulDecoder, FAKE_VOCAB, logitsAfter } from '../helpers/fake-stateful-decoder.ts';

/** A port as openvino-node prints it. */
const port = (name: string, type: string, shape: string) => ({
  anyName: name,
  toString: () => `<ConstOutput: names[${name}] shape${shape} type: ${type}>`,
  getPartialShape: () => ({ toString: () => shape }),
});

function fakeAddon(inputs: ReturnType<typeof port>[], outputs: ReturnType<typeof port>[], createInferRequest: () => unknown): OpenVinoAddon {
  class Tensor {
    constructor(
      readonly type: string,
      readonly dims: number[],
      readonly data: unknown,
    ) {}
    getData() {
      return this.data;
    }
    getShape() {
      return this.dims;
    }
  }
  class Core {
    async readModel() {
      return {};
    }
    async compileModel() {
      return { inputs, outputs, createInferRequest };
    }
    getAvailableDevices() {
      return ['CPU'];
    }
  }
  return { Core, Tensor } as unknown as OpenVinoAddon;
}

describe('OpenVINO backend (fake addon)', () => {
  it('reads ports, runs feeds through an infer request, returns typed outputs', async () => {
    const addon = fakeAddon([port('input_ids', 'i64', '[?,?]')], [port('logits', 'f32', '[?,?,16]')], () => ({
      inferAsync: async (feeds: Record<string, { data: BigInt64Array; dims: number[] }>) => {
        const ids = feeds.input_ids as { data: BigInt64Array; dims: number[] };
        return { logits: { getData: () => Float32Array.from(ids.data, (x) => Number(x) * 2), getShape: () => ids.dims } };
      },
    }));
    const backend = await createOpenVinoBackend(addon, 'model.xml', {});
    expect(backend.engine).toBe('openvino');
    expect(backend.inputs).toEqual([{ name: 'input_ids', type: 'int64', shape: ['dim0', 'dim1'] }]);
    expect(backend.outputs).toEqual([{ name: 'logits', type: 'float32', shape: ['dim0', 'dim1', 16] }]);
    expect(backend.statefulDecoder).toBeUndefined();
    const out = await backend.run({ input_ids: { type: 'int64', data: BigInt64Array.from([1n, 2n]), dims: [1, 2] } });
    expect([...(out.logits!.data as Float32Array)]).toEqual([2, 4]);
  });

  it('offers a stateful decoder when the graph takes beam_idx, and generation runs on its state', async () => {
    const fake = createFakeStatefulDecoder();
    const addon = fakeAddon(
      [port('input_ids', 'i64', '[?,?]'), port('attention_mask', 'i64', '[?,?]'), port('position_ids', 'i64', '[?,?]'), port('beam_idx', 'i32', '[?]')],
      [port('logits', 'f32', `[?,?,${FAKE_VOCAB}]`)],
      () => fake.createInferRequest(),
    );
    const backend = await createOpenVinoBackend(addon, 'openvino_model.xml', {});
    expect(backend.statefulDecoder).toBeDefined();
    const session = createStatefulSession(backend.statefulDecoder!);
    const prefill = await session.prefill([[3, 1, 4]]);
    expect([...prefill.last(0)]).toEqual([...logitsAfter([3, 1, 4])]);
    session.fork(0, 1);
    const logits = await session.decode([5, 9]);
    expect([...logits.subarray(0, FAKE_VOCAB)]).toEqual([...logitsAfter([3, 1, 4, 5])]);
    expect([...logits.subarray(FAKE_VOCAB)]).toEqual([...logitsAfter([3, 1, 4, 9])]);
  });
});
