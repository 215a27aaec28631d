// Chooses the engine for a model: OpenVINO when asked for or (auto) when it loads, else onnxruntime.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { preparedModelFileOffThread, type Quantize } from '../onnx/prepare.ts';
import { RuntimeError } from '../errors.ts';
import type { Backend, BackendOptions } from './backend.ts';
import { createOnnxRuntimeBackend } from './onnxruntime.ts';
import { createOpenVinoBackend, loadOpenVino, type OpenVinoAddon } from './openvino.ts';

export type BackendChoice = 'auto' | 'onnxruntime' | 'openvino';

export interface BackendSelection {
  modelDir: string;
  /** File relative to modelDir from config, if the user named one. */
  file: string | undefined;
  choice: BackendChoice;
  options: BackendOptions;
  log: (line: string) => void;
  /** The onnxruntime model's MatMul weights rewritten to int8 or q4 (runtime/onnx/), cached. */
  quantize?: Quantize;
  /** A decoder's config.json: rebuild it in the fused form when it is a Llama-family model. */
  fuse?: Record<string, unknown>;
  /** A text-generation model: quantized with per-row activations (batch invariant). */
  decoder?: boolean;
}

// The addon is probed once per process; every model shares the answer, logged once.
let fallbackLogged = false;
let openVinoProbe: Promise<{ addon?: OpenVinoAddon; reason?: string }> | undefined;
function probeOpenVino() {
  openVinoProbe ??= loadOpenVino().then(
    (addon) => ({ addon }),
    (err: unknown) => ({ reason: err instanceof Error ? err.message.split('\n')[0] : String(err) }),
  );
  return openVinoProbe;
}

/**
 * The model file: the configured one, else the transformers.js layout (onnx/model.onnx, or
 * openvino_model.xml for OpenVINO), else model.onnx / model.xml at the top or in the highest
 * numbered version folder (the OpenVINO Model Server and Triton repository layout).
 */
function resolveFile(modelDir: string, file: string | undefined, engine: 'onnxruntime' | 'openvino'): string {
  if (file) return join(modelDir, file);
  const names = engine === 'openvino' ? ['openvino_model.xml', 'model.xml', join('onnx', 'model.onnx'), 'model.onnx'] : [join('onnx', 'model.onnx'), 'model.onnx'];
  const versions = existsSync(modelDir)
    ? readdirSync(modelDir)
        .filter((d) => /^\d+$/.test(d))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const dir of ['', ...versions]) {
    for (const name of names) if (existsSync(join(modelDir, dir, name))) return join(modelDir, dir, name);
  }
  return join(modelDir, 'onnx', 'model.onnx');
}

export async function selectBackend(sel: BackendSelection): Promise<Backend> {
  const quantize = sel.quantize ?? 'none';
  if (quantize !== 'none' && sel.choice === 'openvino') {
    throw new RuntimeError('internal', `"quantize": "${quantize}" rewrites ONNX graphs for onnxruntime; for OpenVINO export a compressed IR (optimum-cli --weight-format int8 or int4).`);
  }
  if (sel.choice !== 'onnxruntime' && quantize === 'none') {
    const probe = await probeOpenVino();
    if (probe.addon) {
      if (sel.choice === 'auto') sel.log('backend: openvino (openvino-node and its native runtime loaded)');
      return createOpenVinoBackend(probe.addon, resolveFile(sel.modelDir, sel.file, 'openvino'), sel.options);
    }
    if (sel.choice === 'openvino') {
      throw new RuntimeError(
        'internal',
        `backend "openvino" was requested but openvino-node cannot load (${probe.reason}). ` +
          'Install it with `npm install openvino-node` on a machine that can reach its runtime download, or set "backend": "auto".',
      );
    }
    if (!fallbackLogged) sel.log(`backend: onnxruntime (openvino-node unavailable: ${probe.reason})`);
    fallbackLogged = true;
  }
  const file = resolveFile(sel.modelDir, sel.file, 'onnxruntime');
  if (!existsSync(file)) throw new RuntimeError('internal', `model file not found: ${file}`);
  return createOnnxRuntimeBackend(await preparedModelFileOffThread(file, { quantize, fuse: sel.fuse, decoder: sel.decoder ?? false, log: sel.log }), sel.options);
}
