import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../runtime/backends/select.ts';
import { loadOpenVino } from '../../runtime/backends/openvino.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { PROJECT_DIR } from '../helpers/paths.ts';

// On these machines openvino-node's install cannot fetch its native runtime, so npm drops it.
// These tests state what happens when it cannot load; where it loads, they check it is used.
const openVinoLoads = await loadOpenVino().then(() => true, () => false);

describe('backend selection', () => {
  it('auto falls back to onnxruntime with one line saying why when OpenVINO cannot load', async () => {
    const lines: string[] = [];
    const backend = await selectBackend({ modelDir: fixturePath('tiny-embed'), file: undefined, choice: 'auto', options: {}, log: (l) => lines.push(l) });
    if (openVinoLoads) {
      expect(backend.engine).toBe('openvino');
    } else {
      expect(backend.engine).toBe('onnxruntime');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^backend: onnxruntime \(openvino-node unavailable: .+\)$/);
    }
    expect(backend.inputs.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    await backend.dispose();
  });

  it('an explicit "openvino" backend runs on OpenVINO, or fails at startup naming what is missing and how to fix it', async () => {
    const explicit = selectBackend({ modelDir: fixturePath('tiny-embed'), file: undefined, choice: 'openvino', options: {}, log: () => {} });
    if (openVinoLoads) {
      const backend = await explicit;
      expect(backend.engine).toBe('openvino');
      await backend.dispose();
    } else {
      expect(existsSync(join(PROJECT_DIR, 'node_modules', 'openvino-node', 'bin'))).toBe(false);
      await expect(explicit).rejects.toThrow(/backend "openvino" was requested but openvino-node cannot load \(openvino-node is not installed\)\. .*npm install openvino-node/);
    }
  });

  it('onnxruntime reports the model I/O and runs with a thread setting', async () => {
    const backend = await selectBackend({ modelDir: fixturePath('tiny-rerank'), file: 'onnx/model.onnx', choice: 'onnxruntime', options: { threads: 1 }, log: () => {} });
    expect(backend.outputs).toEqual([{ name: 'logits', type: 'float32', shape: ['batch_size', 1] }]);
    await backend.dispose();
  });

  it('names a missing model file', async () => {
    await expect(selectBackend({ modelDir: fixturePath('tiny-rerank'), file: 'onnx/nope.onnx', choice: 'onnxruntime', options: {}, log: () => {} })).rejects.toThrow(/model file not found: .*nope\.onnx/);
  });
});
