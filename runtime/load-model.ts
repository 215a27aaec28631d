// Loading pieces the task registry composes: a model's backend, its text side (manifest,
// tokenizer, codec) and the decoder session a generation model runs on.
import { selectBackend } from './backends/select.ts';
import type { Backend, DecoderSession } from './backends/backend.ts';
import { createOwnedKvSession, ownedKvDecoderOf } from './backends/owned-kv-session.ts';
import { createStatefulSession } from './backends/openvino-stateful-session.ts';
import { createOptimumSession, optimumDecoderOf } from './backends/optimum-session.ts';
import type { ModelEntry } from './config.ts';
import { readManifest, type ModelManifest } from './manifest.ts';
import { createTextCodec, type TextCodec } from './tasks/tokenize.ts';
import { createTokenizer, type Tokenizer } from './tokenizer.ts';

/** The configured model file on the engine the config chooses; `fuse` passes a decoder's config.json for the fused rewrite. */
export function modelBackend(entry: ModelEntry, log: (line: string) => void, fuse?: Record<string, unknown>): Promise<Backend> {
  return selectBackend({
    modelDir: entry.path,
    file: entry.file,
    choice: entry.backend,
    options: { threads: entry.threads },
    quantize: entry.quantize,
    fuse,
    decoder: entry.task === 'text-generation',
    log: (line) => log(`${entry.name}: ${line}`),
  });
}

export interface TextModel {
  manifest: ModelManifest;
  tokenizer: Tokenizer;
  backend: Backend;
  text: TextCodec;
}

/** A model with a tokenizer: its folder's manifest, tokenizer, backend and text codec. */
export async function loadTextModel(entry: ModelEntry, log: (line: string) => void): Promise<TextModel> {
  const manifest = readManifest(entry.path);
  const tokenizer = createTokenizer(manifest.tokenizerJson, manifest.tokenizerConfig);
  const backend = await modelBackend(entry, log, entry.task === 'text-generation' && entry.fuse ? manifest.hfConfig : undefined);
  return { manifest, tokenizer, backend, text: createTextCodec(manifest, tokenizer) };
}

/** The DecoderSession for the graph loaded: stateful (OpenVINO), fused with an owned cache, or Optimum's. */
export async function decoderSession(backend: Backend, manifest: ModelManifest, entry: ModelEntry, log: (line: string) => void): Promise<DecoderSession> {
  const maxRunning = entry.max_running_sequences;
  if (backend.statefulDecoder) return createStatefulSession(backend.statefulDecoder);
  const owned = ownedKvDecoderOf(backend, manifest.maxLength, maxRunning);
  if (!owned) return createOptimumSession(optimumDecoderOf(backend, manifest));
  const bytesPerToken = owned.layers * 2 * owned.kvHeads * owned.headDim * 4;
  // The buffers are allocated for max_running_sequences rows (pages are mapped as rows reach them) and grow to at most the full context.
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  const budget = entry.max_kv_tokens === undefined ? '' : `; max_kv_tokens ${entry.max_kv_tokens} admits running rows x the longest row up to ${mib(bytesPerToken * entry.max_kv_tokens)} MiB`;
  const prefix = entry.prefix_cache_tokens > 0 ? `; prefix cache ${entry.prefix_cache_tokens} tokens, up to ${mib(bytesPerToken * entry.prefix_cache_tokens)} MiB` : '; prefix cache off';
  log(`decoder: fused, KV cache owned by the runtime: ${(bytesPerToken / 1024).toFixed(1)} KiB per token per sequence, at most ${mib(bytesPerToken * manifest.maxLength * maxRunning)} MiB (${maxRunning} sequences x ${manifest.maxLength} tokens)${budget}${prefix}`);
  return backend.openOwnedKvSession ? backend.openOwnedKvSession(manifest.maxLength, maxRunning) : createOwnedKvSession(owned);
}
