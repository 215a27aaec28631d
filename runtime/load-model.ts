// Loads one configured model: manifest, tokenizer, backend, and the task object that serves it.
import { selectBackend } from './backends/select.ts';
import type { Backend } from './backends/backend.ts';
import { createStatefulSession } from './backends/openvino-stateful-session.ts';
import { createOptimumSession, optimumDecoderOf } from './backends/optimum-session.ts';
import type { ModelEntry } from './config.ts';
import { readManifest } from './manifest.ts';
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

export async function loadModel(entry: ModelEntry, log: (line: string) => void): Promise<LoadedModel> {
  const backendFor = () =>
    selectBackend({
      modelDir: entry.path,
      file: entry.file,
      choice: entry.backend,
      options: { threads: entry.threads },
      quantize: entry.quantize,
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
  const backend = await backendFor();
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
      const session = backend.statefulDecoder ? createStatefulSession(backend.statefulDecoder) : createOptimumSession(optimumDecoderOf(backend, manifest));
      return { info, backend, text, task: 'text-generation', generator: createGenerator(entry, manifest, session, tokenizer) };
    }
  }
}
