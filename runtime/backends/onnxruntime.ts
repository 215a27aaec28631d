// onnxruntime-node backend: runs an .onnx file on the CPU execution provider.
import * as ort from 'onnxruntime-node';
import { RuntimeError, throwIfAborted } from '../errors.ts';
import type { Backend, BackendFactory, Feeds, Tensor, TensorInfo, TensorType } from './backend.ts';

const KNOWN_TYPES: ReadonlySet<string> = new Set(['float32', 'float16', 'int64', 'int32', 'bool']);

function toTensorType(type: string, name: string): TensorType {
  if (!KNOWN_TYPES.has(type)) throw new RuntimeError('internal', `Model tensor "${name}" has unsupported type ${type}.`);
  return type as TensorType;
}

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) => {
    if (!m.isTensor) throw new RuntimeError('internal', `Model value "${m.name}" is not a tensor.`);
    return { name: m.name, type: toTensorType(m.type, m.name), shape: m.shape };
  });
}

export const createOnnxRuntimeBackend: BackendFactory = async (modelFile, options) => {
  const session = await ort.InferenceSession.create(modelFile, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    // One inter-op thread: the batching queue already keeps the cores busy with one run at a time.
    interOpNumThreads: 1,
    ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads }),
  });
  const backend: Backend = {
    engine: 'onnxruntime',
    inputs: describe(session.inputMetadata),
    outputs: describe(session.outputMetadata),
    async run(feeds: Feeds, signal?: AbortSignal) {
      throwIfAborted(signal);
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const results = await session.run(ortFeeds);
      const out: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(results)) {
        out[name] = { type: toTensorType(t.type, name), data: t.data as Tensor['data'], dims: t.dims };
      }
      return out;
    },
    async dispose() {
      await session.release();
    },
  };
  return backend;
};
