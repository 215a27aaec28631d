// openvino-node backend: the same Backend interface over OpenVINO's Node addon (loaded lazily).
import { RuntimeError, throwIfAborted } from '../errors.ts';
import type { Backend, BackendOptions, Feeds, Tensor, TensorInfo, TensorType } from './backend.ts';
import type { StatefulDecoder } from './openvino-stateful-session.ts';

// The slice of openvino-node's published API (lib/addon.ts) this backend uses. Declared here
// because the package is optional: type-checking must not depend on it being installed.
type OvElement = 'f32' | 'i64' | 'i32' | 'u8';
type OvTypedArray = Float32Array | BigInt64Array | Int32Array | Uint8Array;
interface OvTensor {
  getData(): OvTypedArray;
  getShape(): number[];
}
interface OvOutput {
  anyName: string;
  toString(): string;
  getPartialShape(): { toString(): string };
}
interface OvInferRequest {
  inferAsync(inputs: Record<string, OvTensor>): Promise<Record<string, OvTensor>>;
}
type OvIndexArray = BigInt64Array | Int32Array;
interface OvCompiledModel {
  inputs: OvOutput[];
  outputs: OvOutput[];
  createInferRequest(): OvInferRequest;
}
interface OvCore {
  readModel(path: string): Promise<unknown>;
  compileModel(model: unknown, device: string, config?: Record<string, string | number | boolean>): Promise<OvCompiledModel>;
  getAvailableDevices(): string[];
}
export interface OpenVinoAddon {
  Core: new () => OvCore;
  Tensor: new (type: OvElement, shape: number[], data: OvTypedArray) => OvTensor;
}

const TO_OV: Partial<Record<TensorType, OvElement>> = { float32: 'f32', int64: 'i64', int32: 'i32', bool: 'u8' };
const FROM_OV: Record<string, TensorType> = { f32: 'float32', i64: 'int64', i32: 'int32', u8: 'bool', boolean: 'bool' };

/** Loads the addon; throws with the reason when the package or its native runtime is missing. */
export async function loadOpenVino(): Promise<OpenVinoAddon> {
  const mod = (await import('openvino-node' as string).catch((err: { code?: string }) => {
    throw err.code === 'ERR_MODULE_NOT_FOUND' ? new Error('openvino-node is not installed') : err;
  })) as { addon?: OpenVinoAddon; default?: { addon?: OpenVinoAddon } };
  const addon = mod.addon ?? mod.default?.addon;
  if (!addon) throw new Error('openvino-node loaded but exports no addon');
  new addon.Core().getAvailableDevices(); // touches the native runtime, so a broken install fails here
  return addon;
}

/** OpenVINO prints ports as "<ConstOutput: names[x] shape[?,?] type: i64>"; read the element type from it. */
function portType(port: OvOutput): TensorType {
  const match = /type:\s*(\w+)/.exec(port.toString());
  const type = match ? FROM_OV[match[1] as string] : undefined;
  if (!type) throw new RuntimeError('internal', `OpenVINO port "${port.anyName}" has an unsupported element type (${port.toString()}).`);
  return type;
}

function portShape(port: OvOutput): Array<number | string> {
  const text = port.getPartialShape().toString().replace(/[[\]\s]/g, '');
  if (text === '') return [];
  return text.split(',').map((d, i) => (/^\d+$/.test(d) ? Number(d) : `dim${i}`));
}

function describe(ports: OvOutput[]): TensorInfo[] {
  return ports.map((p) => ({ name: p.anyName, type: portType(p), shape: portShape(p) }));
}

export async function createOpenVinoBackend(addon: OpenVinoAddon, modelFile: string, options: BackendOptions): Promise<Backend> {
  const core = new addon.Core();
  const model = await core.readModel(modelFile);
  const config: Record<string, string | number> = { PERFORMANCE_HINT: 'THROUGHPUT' };
  if (options.threads !== undefined) config.INFERENCE_NUM_THREADS = options.threads;
  const compiled = await core.compileModel(model, 'CPU', config);
  const inputs = describe(compiled.inputs);
  const outputs = describe(compiled.outputs);
  // An Optimum stateful decoder takes beam_idx and keeps its KV cache as request state.
  const statefulDecoder: StatefulDecoder | undefined = inputs.some((i) => i.name === 'beam_idx')
    ? {
        createInferRequest: () => compiled.createInferRequest(),
        tensor: (type, dims, data: OvIndexArray) => new addon.Tensor(type, dims, data),
        padId: 0,
      }
    : undefined;
  return {
    engine: 'openvino',
    inputs,
    outputs,
    ...(statefulDecoder ? { statefulDecoder } : {}),
    async run(feeds: Feeds, signal?: AbortSignal, keep?: readonly string[]) {
      throwIfAborted(signal);
      const ovFeeds: Record<string, OvTensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        const element = TO_OV[t.type];
        if (!element) throw new RuntimeError('unsupported', `The OpenVINO backend cannot feed ${t.type} tensors (${name}).`);
        ovFeeds[name] = new addon.Tensor(element, [...t.dims], t.data as OvTypedArray);
      }
      // One infer request per run: runs may overlap (continuous batching prefill + decode).
      const results = await compiled.createInferRequest().inferAsync(ovFeeds);
      const out: Record<string, Tensor> = {};
      for (const info of outputs) {
        const t = results[info.name];
        if (t) out[info.name] = { type: info.type, data: t.getData(), dims: t.getShape() };
      }
      for (const name of keep ?? []) if (feeds[name]) out[name] = feeds[name];
      return out;
    },
    async dispose() {
      // The addon frees native memory when the compiled model is garbage-collected.
    },
  };
}
