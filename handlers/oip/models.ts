// What the Open Inference Protocol's REST routes and gRPC service say alike about the models:
// versions, readiness, platform, the extensions served, and which outputs a request gets.
import { RuntimeError, type ModelInfo, type Runtime } from '../../runtime/index.ts';
import type { OipTensor } from './tensors.ts';

/** Protocol extensions this server implements: ServerMetadata reports the server, as Triton does on both protocols. */
export const EXTENSIONS = ['binary_tensor_data', 'generate', 'model_repository'] as const;
export const VERSION = '0.1.0';
/** Every model has one version, "1". */
export const MODEL_VERSION = '1';

/** A served model, checked to exist and, when a version is named, that the version is ours. */
export function servedModel(runtime: Runtime, name: string, version: string | undefined): ModelInfo {
  const info = runtime.listModels().find((m) => m.name === name);
  if (!info) throw new RuntimeError('model_not_found', `Model '${name}' is not served here.`);
  if (version !== undefined && version !== MODEL_VERSION) throw new RuntimeError('model_not_found', `Model '${name}' has no version '${version}' (it has version ${MODEL_VERSION}).`);
  return info;
}

/** A model is ready once loaded, while the server is (not while it loads the others or drains). */
export const isModelReady = (runtime: Runtime, name: string): boolean => runtime.listModels().some((m) => m.name === name && m.created > 0) && runtime.isReady();

/** The metadata `platform` of an engine's models. */
export const platformOf = (engine: ModelInfo['engine']): string => (engine === 'openvino' ? 'openvino_ir' : 'onnxruntime_onnx');

/** The outputs the client named, in its order (all of them when it named none); an unknown name is refused. */
export function selectOutputs(outputs: ReadonlyMap<string, OipTensor>, wanted: readonly string[] | undefined): Array<readonly [string, OipTensor]> {
  const names = wanted ?? [...outputs.keys()];
  const unknown = names.filter((name) => !outputs.has(name));
  if (unknown.length > 0) {
    throw new RuntimeError('invalid_request', `unknown output(s) ${unknown.map((n) => `'${n}'`).join(', ')}; the model gives ${[...outputs.keys()].map((n) => `'${n}'`).join(', ')}`);
  }
  return names.map((name) => [name, outputs.get(name) as OipTensor] as const);
}

