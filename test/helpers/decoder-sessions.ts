// DecoderSessions over real onnxruntime backends, for comparing decoder forms step by step: the
// graph as exported (Optimum past/present) and the fused graph with the runtime-owned cache.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, DecoderSession } from '../../runtime/backends/backend.ts';
import { createOnnxRuntimeBackend } from '../../runtime/backends/onnxruntime.ts';
import { createOptimumSession, optimumDecoderOf } from '../../runtime/backends/optimum-session.ts';
import { createOwnedKvSession, ownedKvDecoderOf } from '../../runtime/backends/owned-kv-session.ts';
import { readManifest } from '../../runtime/manifest.ts';

export interface OpenedDecoder {
  session: DecoderSession;
  backend: Backend;
}

/**
 * A session over `file` (any form) for the model folder `modelDir`. A fused session's buffers are
 * allocated for `maxRows` rows (as the runtime's are for max_running_sequences): growth within
 * them moves rows in place, growth past them re-allocates.
 */
export async function openDecoder(modelDir: string, file = join(modelDir, 'onnx', 'model.onnx'), maxRows = 3): Promise<OpenedDecoder> {
  const manifest = readManifest(modelDir);
  const backend = await createOnnxRuntimeBackend(file, { threads: 1 });
  const owned = ownedKvDecoderOf(backend, manifest.maxLength, maxRows);
  if (!owned) return { backend, session: createOptimumSession(optimumDecoderOf(backend, manifest)) };
  return { backend, session: backend.openOwnedKvSession ? await backend.openOwnedKvSession(manifest.maxLength, maxRows) : createOwnedKvSession(owned) };
}

export const argmax = (row: Float32Array) => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
};

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Row `r` of flattened [rows, vocab] logits. */
export const rowOf = (logits: Float32Array, r: number, vocab: number) => logits.subarray(r * vocab, (r + 1) * vocab);

/**
 * One prompt, then `steps` decode steps in which both sessions read the reference's greedy token
 * (teacher forcing): how often the candidate's top-1 is the reference's.
 */
export async function teacherForcedAgreement(reference: DecoderSession, candidate: DecoderSession, prompt: number[], steps: number): Promise<{ agree: number; maxAbs: number }> {
  let a = (await reference.prefill([prompt])).last(0).slice();
  let b = (await candidate.prefill([prompt])).last(0).slice();
  let agree = 0;
  let maxAbs = 0;
  for (let t = 0; t < steps; t++) {
    const token = argmax(a);
    if (argmax(b) === token) agree++;
    maxAbs = Math.max(maxAbs, maxAbsDiff(a, b));
    a = (await reference.decode([token])).slice();
    b = (await candidate.decode([token])).slice();
  }
  reference.reset();
  candidate.reset();
  return { agree, maxAbs };
}

export const vocabOf = (modelDir: string) => Number((JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size);
