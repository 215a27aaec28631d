// Loads one configured model: manifest, tokenizer, backend, and the task object that serves it.
import { selectBackend } from './backends/select.ts';
import type { Backend, DecoderSession } from './backends/backend.ts';
import { createOwnedKvSession, ownedKvDecoderOf } from './backends/owned-kv-session.ts';
import { createStatefulSession } from './backends/openvino-stateful-session.ts';
import { createOptimumSession, optimumDecoderOf } from './backends/optimum-session.ts';
import type { ModelEntry } from './config.ts';
import { readManifest, type ModelManifest } from './manifest.ts';
import { createEmbedder, type Embedder } from './tasks/embed.ts';
import { createGenerator, type Generator } from './tasks/generate.ts';
import { createReranker, type Reranker } from './tasks/rerank.ts';
import { createTensorModel, type TensorModel } from './tasks/tensor.ts';
import { createTextCodec, type TextCodec } from './tasks/tokenize.ts';
import { createTokenizer } from './tokenizer.ts';
import type { ModelInfo } from './types.ts';

export type LoadedModel =
  | { info: ModelInfo; backend: Backend; text: TextCodec; task: 'embeddings'; embedder: Embedder }
  | { info: ModelInfo; backend: Backend; text: TextCodec; task: 'rerank'; reranker: Reranker }
  | { info: ModelInfo; backend: Backend; text: TextCodec; task: 'text-generation'; generator: Generator }
  | { info: ModelInfo; backend: Backend; task: 'tensor'; tensorModel: TensorModel };

/** The DecoderSession for the graph loaded: stateful (OpenVINO), fused with an owned cache, or Optimum's. */
async function decoderSession(backend: Backend, manifest: ModelManifest, entry: ModelEntry, log: (line: string) => void): Promise<DecoderSession> {
  const maxRunning = entry.max_running_sequences;
  if (backend.statefulDecoder) return createStatefulSession(backend.statefulDecoder);
  const owned = ownedKvDecoderOf(backend, manifest.maxLength);
  if (!owned) return createOptimumSession(optimumDecoderOf(backend, manifest));
  const bytesPerToken = owned.layers * 2 * owned.kvHeads * owned.headDim * 4;
  // The buffers grow with use, in steps of 64 positions, to at most max_running_sequences rows of the full context.
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  const budget = entry.max_kv_tokens === undefined ? '' : `; max_kv_tokens ${entry.max_kv_tokens} admits running rows x their longest prompt + max_tokens up to ${mib(bytesPerToken * entry.max_kv_tokens)} MiB`;
  log(`decoder: fused, KV cache owned by the runtime: ${(bytesPerToken / 1024).toFixed(1)} KiB per token per sequence, at most ${mib(bytesPerToken * manifest.maxLength * maxRunning)} MiB (${maxRunning} sequences x ${manifest.maxLength} tokens)${budget}`);
  return backend.openOwnedKvSession ? backend.openOwnedKvSession(manifest.maxLength) : createOwnedKvSession(owned);
}

export async function loadModel(entry: ModelEntry, log: (line: string) => void): Promise<LoadedModel> {
  const backendFor = (fuse?: Record<string, unknown>) =>
    selectBackend({
      modelDir: entry.path,
      file: entry.file,
      choice: entry.backend,
      options: { threads: entry.threads },
      quantize: entry.quantize,
      fuse,
      decoder: entry.task === 'text-generation',
      log: (line) => log(`${entry.name}: ${line}`),
    });
  // A tensor model is only its graph: no config.json, tokenizer or template is needed.
  if (entry.task === 'tensor') {
    const backend = await backendFor();
    const info: ModelInfo = { name: entry.name, task: entry.task, created: Math.floor(Date.now() / 1000), engine: backend.engine, maxLength: 0 };
    return { info, backend, task: 'tensor', tensorModel: createTensorModel(entry, backend) };
  }
  const manifest = readManifest(entry.path);
  const tokenizer = createTokenizer(manifest.tokenizerJson, manifest.tokenizerConfig);
  const backend = await backendFor(entry.task === 'text-generation' && entry.fuse ? manifest.hfConfig : undefined);
  const text = createTextCodec(manifest, tokenizer);
  const info: ModelInfo = {
    name: entry.name,
    task: entry.task,
    created: Math.floor(Date.now() / 1000),
    engine: backend.engine,
    maxLength: manifest.maxLength,
  };
  switch (entry.task) {
    case 'embeddings':
      return { info, backend, text, task: 'embeddings', embedder: createEmbedder(entry, manifest, backend, tokenizer) };
    case 'rerank':
      return { info, backend, text, task: 'rerank', reranker: createReranker(entry, manifest, backend, tokenizer) };
    case 'text-generation': {
      const session = await decoderSession(backend, manifest, entry, (line) => log(`${entry.name}: ${line}`));
      return { info, backend, text, task: 'text-generation', generator: createGenerator(entry, manifest, session, tokenizer) };
    }
  }
}
