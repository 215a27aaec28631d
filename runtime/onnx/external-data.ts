// Moves a model's large initializers into an external data file (ONNX's external_data: location,
// offset, length), each at a page-aligned offset, so onnxruntime can map the file instead of
// copying every weight out of the parsed model: loading then holds the weights once, not twice.
import { readFields } from './protobuf-reader.ts';
import { concatBytes, ProtoWriter } from './protobuf-writer.ts';
import { EXTERNAL_DATA, type ModelProto, type TensorProto } from './model-proto.ts';

/** Tensors at least this large go to the data file. */
const EXTERNAL_MIN_BYTES = 1024;
const PAGE = 4096;

function externalEntries(location: string, offset: number, length: number) {
  const w = new ProtoWriter();
  for (const [key, value] of [['location', location], ['offset', String(offset)], ['length', String(length)]] as const) {
    w.message(13, new ProtoWriter().string(1, key).string(2, value));
  }
  return readFields(concatBytes(w.finish()));
}

export interface ExternalModel {
  model: ModelProto;
  /** The data file's bytes, in order (pages of padding included). */
  data: Uint8Array[];
}

/** `model` with its large raw_data initializers stored in `location` (a file name beside the model). */
export function withExternalData(model: ModelProto, location: string): ExternalModel {
  const data: Uint8Array[] = [];
  let offset = 0;
  const initializer: TensorProto[] = model.graph.initializer.map((t) => {
    const raw = t.rawData;
    if (!raw || raw.length < EXTERNAL_MIN_BYTES || t.dataLocation === EXTERNAL_DATA) return t;
    const padding = (PAGE - (offset % PAGE)) % PAGE;
    if (padding) data.push(new Uint8Array(padding));
    offset += padding;
    data.push(raw);
    const moved: TensorProto = { ...t, rawData: undefined, dataLocation: EXTERNAL_DATA, other: [...t.other, ...externalEntries(location, offset, raw.length)] };
    offset += raw.length;
    return moved;
  });
  return { model: { ...model, graph: { ...model.graph, initializer } }, data };
}
