// Greedy ids from a fixture's ONNX decoder on onnxruntime-node (the graph ovserve serves), one sequence with a KV
// cache: the reference the llama.cpp peer's output is checked against.
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GreedyRun } from './greedy-check.ts';

const i64 = (a: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);

function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp((logits[i] as number) - max);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/** `count` greedy ids after `prompt` (as given, no BOS added), with each step's distribution. */
export async function onnxGreedy(modelDir: string, prompt: number[], count: number): Promise<GreedyRun> {
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { num_hidden_layers: number; num_key_value_heads: number; head_dim: number };
  const session = await ort.InferenceSession.create(join(modelDir, 'onnx', 'model.onnx'), { graphOptimizationLevel: 'all' });
  try {
    let feeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < config.num_hidden_layers; l++) {
      for (const k of ['key', 'value']) feeds[`past_key_values.${l}.${k}`] = new ort.Tensor('float32', new Float32Array(0), [1, config.num_key_value_heads, 0, config.head_dim]);
    }
    const ids: number[] = [];
    const probabilities: Float32Array[] = [];
    let input = prompt;
    let length = 0;
    while (ids.length < count) {
      const out = await session.run({
        ...feeds,
        input_ids: i64(input, [1, input.length]),
        attention_mask: i64(Array(length + input.length).fill(1), [1, length + input.length]),
        position_ids: i64(input.map((_, t) => length + t), [1, input.length]),
      });
      const logits = out.logits!.data as Float32Array;
      const vocab = logits.length / input.length;
      const row = (input.length - 1) * vocab;
      let best = 0;
      for (let v = 1; v < vocab; v++) if ((logits[row + v] as number) > (logits[row + best] as number)) best = v;
      ids.push(best);
      probabilities.push(softmax(logits.subarray(row, row + vocab)));
      length += input.length;
      input = [best];
      feeds = {};
      for (let l = 0; l < config.num_hidden_layers; l++) for (const k of ['key', 'value']) feeds[`past_key_values.${l}.${k}`] = out[`present.${l}.${k}`]!;
    }
    return { ids, probabilities };
  } finally {
    await session.release();
  }
}
