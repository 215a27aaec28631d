// The task registry: one entry per model task — how a configured model of it loads and the
// service it offers the runtime. Adding a task is its folder under tasks/ plus one entry here
// (and its name in config.ts's task list); the runtime routes requests by task through it.
import type { Backend } from './backends/backend.ts';
import type { ModelEntry, ModelTask } from './config.ts';
import { readDiffusionManifest } from './images/diffusion-manifest.ts';
import { diffusionNetworks } from './images/networks.ts';
import { decoderSession, loadTextModel, modelBackend } from './load-model.ts';
import { createEmbedder, type Embedder } from './tasks/embed.ts';
import { createGenerator, type Generator } from './tasks/generate.ts';
import { createReranker, type Reranker } from './tasks/rerank.ts';
import { createTensorModel, type TensorModel } from './tasks/tensor.ts';
import { createImageGenerator, type ImageGenerator } from './tasks/text-to-image.ts';
import { createTokenizer } from './tokenizer.ts';
import type { TextCodec } from './tasks/tokenize.ts';
import type { ModelInfo } from './types.ts';

/** What a loaded model of each task serves requests with. */
export interface TaskServices {
  embeddings: Embedder;
  rerank: Reranker;
  'text-generation': Generator;
  tensor: TensorModel;
  'text-to-image': ImageGenerator;
}

export interface LoadedModel<T extends ModelTask = ModelTask> {
  task: T;
  info: ModelInfo;
  service: TaskServices[T & keyof TaskServices];
  /** Its networks, by name (one for every task so far); the first is the one metadata describes. */
  backends: Backend[];
  /** Its tokenizer, where it has one (tokenize / detokenize). */
  text?: TextCodec;
  /** Counters of its batching queue, for the tasks that batch behind one. */
  batchStats?: () => object;
}

type Log = (line: string) => void;
type Loader<T extends ModelTask> = (entry: ModelEntry, log: Log) => Promise<Omit<LoadedModel<T>, 'task' | 'info'> & { maxLength: number }>;

export const TASKS: { [T in ModelTask]: Loader<T> } = {
  embeddings: async (entry, log) => {
    const m = await loadTextModel(entry, log);
    const embedder = createEmbedder(entry, m.manifest, m.backend, m.tokenizer);
    return { service: embedder, backends: [m.backend], text: m.text, maxLength: m.manifest.maxLength, batchStats: () => embedder.queue.stats };
  },
  rerank: async (entry, log) => {
    const m = await loadTextModel(entry, log);
    const reranker = createReranker(entry, m.manifest, m.backend, m.tokenizer);
    return { service: reranker, backends: [m.backend], text: m.text, maxLength: m.manifest.maxLength, batchStats: () => reranker.queue.stats };
  },
  'text-generation': async (entry, log) => {
    const m = await loadTextModel(entry, log);
    const session = await decoderSession(m.backend, m.manifest, entry, (line) => log(`${entry.name}: ${line}`));
    return { service: createGenerator(entry, m.manifest, session, m.tokenizer), backends: [m.backend], text: m.text, maxLength: m.manifest.maxLength };
  },
  // A tensor model is only its graph: no config.json, tokenizer or template is needed.
  tensor: async (entry, log) => {
    const backend = await modelBackend(entry, log);
    const tensorModel = createTensorModel(entry, backend);
    return { service: tensorModel, backends: [backend], maxLength: 0, batchStats: () => tensorModel.queue.stats };
  },
  // A diffusers pipeline folder: text encoder, UNet and VAE decoder (and encoder, for edits), each its own backend.
  'text-to-image': async (entry, log) => {
    const manifest = readDiffusionManifest(entry.path);
    const network = (folder: string) => modelBackend({ ...entry, path: folder, file: undefined }, (line) => log(`${line} (${folder.slice(entry.path.length + 1)})`));
    const { textEncoder, unet, vaeDecoder, vaeEncoder } = manifest.folders;
    const parts = { textEncoder: await network(textEncoder), unet: await network(unet), vaeDecoder: await network(vaeDecoder), ...(vaeEncoder ? { vaeEncoder: await network(vaeEncoder) } : {}) };
    const tokenizer = createTokenizer(manifest.tokenizerJson, manifest.tokenizerConfig);
    const net = diffusionNetworks(parts, manifest.contextLength, manifest.hiddenSize, manifest.vaeScale);
    const generator = createImageGenerator(entry, manifest, net, tokenizer);
    // The UNet first: the graph metadata describes.
    return { service: generator, backends: [parts.unet, parts.textEncoder, parts.vaeDecoder, ...(parts.vaeEncoder ? [parts.vaeEncoder] : [])], maxLength: manifest.contextLength, batchStats: () => generator.batcher.stats };
  },
};

export async function loadModel<T extends ModelTask>(entry: ModelEntry & { task: T }, log: Log): Promise<LoadedModel<T>> {
  const { maxLength, ...loaded } = await (TASKS[entry.task] as Loader<T>)(entry, log);
  const backend = loaded.backends[0] as Backend;
  return { ...loaded, task: entry.task, info: { name: entry.name, task: entry.task, created: Math.floor(Date.now() / 1000), engine: backend.engine, maxLength } };
}
