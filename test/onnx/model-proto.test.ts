// ONNX ModelProto decode/encode: byte-identical round trips on the fixtures, the shared exports and a
// model full of fields the decoder does not model; edits re-encode to what was meant.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType, decodeModel, encodeModel, type ModelProto } from '../../runtime/onnx/model-proto.ts';
import { concatBytes, ProtoWriter } from '../../runtime/onnx/protobuf-writer.ts';
import { FIXTURES, fixturePath, type FixtureName } from '../helpers/fixtures.ts';
import { SHARED_MODELS_DIR, sharedModelsAvailable } from '../helpers/paths.ts';

const roundTrip = (bytes: Uint8Array) => concatBytes(encodeModel(decodeModel(bytes)));
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

const msg = (build: (w: ProtoWriter) => void) => {
  const w = new ProtoWriter();
  build(w);
  return w;
};

/** Every ModelProto level with fields the decoder passes through, written in field-number order. */
function modelWithEverything(): Uint8Array {
  const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
  const typeProto = msg((t) =>
    t.message(1, msg((tensor) => tensor.varint(1, DataType.FLOAT).message(2, msg((shape) => shape.message(1, msg((d) => d.string(2, 'batch'))).message(1, msg((d) => d.varint(1, 4)))))))
  );
  const subgraph = msg((g) => g.message(1, msg((n) => n.string(1, 'x').string(2, 'y').string(4, 'Identity'))).string(2, 'body'));
  const attrTensor = msg((t) => t.varint(1, 2).varint(2, DataType.INT64).packedVarints(7, [-5, 6]).string(8, 'attr_tensor'));
  const node = msg((n) =>
    n
      .string(1, 'x')
      .string(1, '') // an omitted optional input
      .string(2, 'y')
      .string(3, 'node0')
      .string(4, 'Custom')
      .message(5, msg((a) => a.string(1, 'alpha').float(2, 0.1).varint(20, 1)))
      .message(5, msg((a) => a.string(1, 'axis').varint(3, -1).varint(20, 2)))
      .message(5, msg((a) => a.string(1, 'big').varint(3, 2n ** 63n - 1n).varint(20, 2)))
      .message(5, msg((a) => a.string(1, 'mode').bytes(4, new TextEncoder().encode('constant')).varint(20, 3)))
      .message(5, msg((a) => a.string(1, 'value').message(5, attrTensor).varint(20, 4)))
      .message(5, msg((a) => a.string(1, 'then_branch').message(6, subgraph).varint(20, 5)))
      .message(5, msg((a) => a.string(1, 'scales').float(7, 1.5).float(7, -2).varint(20, 6)))
      .message(5, msg((a) => a.string(1, 'pads').varint(8, 0).varint(8, -1).varint(8, 2n ** 62n).varint(20, 7)))
      .message(5, msg((a) => a.string(1, 'names').bytes(9, new TextEncoder().encode('a')).bytes(9, new TextEncoder().encode('b')).varint(20, 8).string(21, 'ref')))
      .string(6, 'node doc')
      .string(7, 'com.example')
      .string(8, 'overload')
      .message(9, msg((e) => e.string(1, 'k').string(2, 'v'))),
  );
  const floats = msg((t) => t.varint(1, 2).varint(1, 2).varint(2, DataType.FLOAT).bytes(4, f32([1, 2, 3, 4])).string(8, 'w_floats').string(12, 'tensor doc'));
  const raw = msg((t) => t.varint(1, 3).varint(2, DataType.INT8).string(8, 'w_raw').bytes(9, Uint8Array.of(1, 255, 7)));
  const int32s = msg((t) => t.varint(1, 2).varint(2, DataType.INT32).packedVarints(5, [-7, 9]).string(8, 'w_int32'));
  const int64s = msg((t) => t.varint(1, 2).varint(2, DataType.INT64).packedVarints(7, [-1, 2n ** 40n]).string(8, 'w_int64'));
  const external = msg((t) =>
    t
      .varint(1, 4)
      .varint(2, DataType.FLOAT)
      .string(8, 'w_external')
      .message(13, msg((e) => e.string(1, 'location').string(2, 'model.onnx_data')))
      .message(13, msg((e) => e.string(1, 'offset').string(2, '0')))
      .varint(14, 1),
  );
  const graph = msg((g) =>
    g
      .message(1, node)
      .string(2, 'everything')
      .message(5, floats)
      .message(5, raw)
      .message(5, int32s)
      .message(5, int64s)
      .message(5, external)
      .string(10, 'graph doc')
      .message(11, msg((v) => v.string(1, 'x').message(2, typeProto).string(3, 'input doc')))
      .message(12, msg((v) => v.string(1, 'y').message(2, typeProto)))
      .message(13, msg((v) => v.string(1, 'mid').message(2, typeProto)))
      .message(14, msg((q) => q.string(1, 'y')))
      .message(15, msg((s) => s.message(1, floats).message(2, int64s).varint(3, 2)))
      .message(16, msg((e) => e.string(1, 'graph key').string(2, 'graph value'))),
  );
  const model = msg((m) =>
    m
      .varint(1, 8)
      .string(2, 'test-producer')
      .string(3, '1.2.3')
      .string(4, 'org.example')
      .varint(5, 42)
      .string(6, 'model doc')
      .message(7, graph)
      .message(8, msg((o) => o.string(1, '').varint(2, 17)))
      .message(8, msg((o) => o.string(1, 'com.microsoft').varint(2, 1)))
      .message(14, msg((e) => e.string(1, 'author').string(2, 'me')))
      .message(20, msg((t) => t.message(1, msg((i) => i.string(2, 'train')))))
      .message(25, msg((fn) => fn.string(1, 'MyFunction').string(10, 'com.example').string(4, 'x')))
      .message(26, msg((c) => c.string(1, 'config'))),
  );
  return concatBytes(model.finish());
}

describe('ModelProto round trip', () => {
  it.each(Object.keys(FIXTURES) as FixtureName[])('re-encodes the %s fixture byte for byte', (name) => {
    // A pipeline fixture (tiny-sd) has one graph per network folder; the others one under onnx/.
    const dir = fixturePath(name);
    const graphs = existsSync(join(dir, 'onnx', 'model.onnx')) ? [join(dir, 'onnx', 'model.onnx')] : readdirSync(dir).map((sub) => join(dir, sub, 'model.onnx')).filter((file) => existsSync(file));
    expect(graphs.length).toBeGreaterThan(0);
    for (const file of graphs) {
      const bytes = readFileSync(file);
      expect(same(roundTrip(bytes), bytes), file).toBe(true);
    }
  });

  it.runIf(sharedModelsAvailable).each(['tiny-random-smollm2', 'tiny-random-minilm-embed', 'tiny-random-msmarco-rerank'])('re-encodes the shared %s export (written by python onnx) byte for byte', (name) => {
    const bytes = readFileSync(join(SHARED_MODELS_DIR, name, 'onnx', 'model.onnx'));
    expect(same(roundTrip(bytes), bytes)).toBe(true);
  });

  it('passes every field it does not model through unchanged', () => {
    const bytes = modelWithEverything();
    const model = decodeModel(bytes);
    expect(same(roundTrip(bytes), bytes)).toBe(true);
    // ...and decodes the ones it does.
    expect(model.irVersion).toBe(8);
    expect(model.producerName).toBe('test-producer');
    expect(model.opsetImport.map((o) => [o.domain, o.version])).toEqual([['', 17], ['com.microsoft', 1]]);
    expect(model.other.map((f) => f.field)).toEqual([4, 5, 6, 14, 20, 25, 26]);
    const node = model.graph.node[0]!;
    expect(node).toMatchObject({ input: ['x', ''], output: ['y'], name: 'node0', opType: 'Custom', domain: 'com.example' });
    const attr = Object.fromEntries(node.attribute.map((a) => [a.name, a]));
    expect(attr.alpha!.f).toBeCloseTo(0.1, 6);
    expect(attr.axis!.i).toBe(-1n);
    expect(attr.big!.i).toBe(2n ** 63n - 1n);
    expect(new TextDecoder().decode(attr.mode!.s)).toBe('constant');
    expect([...attr.scales!.floats]).toEqual([1.5, -2]);
    expect(attr.pads!.ints).toEqual([0n, -1n, 2n ** 62n]);
    const init = Object.fromEntries(model.graph.initializer.map((t) => [t.name, t]));
    expect([...init.w_floats!.floatData]).toEqual([1, 2, 3, 4]);
    expect(init.w_floats!.dims).toEqual([2, 2]);
    expect([...init.w_raw!.rawData!]).toEqual([1, 255, 7]);
    expect([...init.w_int64!.int64Data]).toEqual([-1n, 2n ** 40n]);
    expect(init.w_external!.dataLocation).toBe(1);
    expect(model.graph.input.map((v) => v.name)).toEqual(['x']);
    expect(model.graph.valueInfo.map((v) => v.name)).toEqual(['mid']);
  });

  it('re-encodes edits: a changed, added and dropped part decode back as written', () => {
    const bytes = readFileSync(join(fixturePath('tiny-chat'), 'onnx', 'model.onnx'));
    const model = decodeModel(bytes);
    const edited: ModelProto = {
      ...model,
      producerName: 'edited',
      opsetImport: [...model.opsetImport, { domain: 'com.microsoft', version: 1, other: [] }],
      graph: { ...model.graph, node: model.graph.node.slice(1), initializer: model.graph.initializer.slice(0, -1) },
    };
    const again = decodeModel(concatBytes(encodeModel(edited)));
    expect(again.producerName).toBe('edited');
    expect(again.opsetImport.map((o) => o.domain)).toEqual(['', 'com.microsoft']);
    expect(again.graph.node.length).toBe(model.graph.node.length - 1);
    expect(again.graph.node[0]!.name).toBe(model.graph.node[1]!.name);
    expect(again.graph.initializer.map((t) => t.name)).toEqual(model.graph.initializer.slice(0, -1).map((t) => t.name));
    expect(same(again.graph.initializer[0]!.rawData!, model.graph.initializer[0]!.rawData!)).toBe(true);
  });

  it('refuses bytes that are not a model', () => {
    expect(() => decodeModel(Uint8Array.of(0x0a, 0x10, 0x01))).toThrow(/past the end/);
    expect(() => decodeModel(concatBytes(new ProtoWriter().varint(1, 8).finish()))).toThrow(/no graph/);
  });
});
