// Reads a Hugging Face-layout model folder into one typed description (no native code here).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from './errors.ts';

export type Pooling = 'mean' | 'cls' | 'last';

export interface ModelManifest {
  dir: string;
  /** config.json as written by transformers. */
  hfConfig: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  chatTemplate: string | undefined;
  generationConfig: Record<string, unknown>;
  /** Longest input the model accepts, in tokens. */
  maxLength: number;
  /** From the sentence-transformers files; undefined when the folder has none. */
  pooling: Pooling | undefined;
  normalize: boolean | undefined;
}

export function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new RuntimeError('internal', `cannot read ${file}: ${(err as Error).message}`);
  }
}

export function readOptionalJson(file: string): Record<string, unknown> | undefined {
  return existsSync(file) ? readJson(file) : undefined;
}

function readPooling(dir: string): { pooling: Pooling | undefined; normalize: boolean | undefined } {
  const modules = readOptionalJson(join(dir, 'modules.json')) as unknown as Array<{ type?: string; path?: string }> | undefined;
  if (!Array.isArray(modules)) return { pooling: undefined, normalize: undefined };
  const normalize = modules.some((m) => m.type?.endsWith('.Normalize'));
  const poolingModule = modules.find((m) => m.type?.endsWith('.Pooling'));
  const poolingConfig = poolingModule?.path ? readOptionalJson(join(dir, poolingModule.path, 'config.json')) : undefined;
  let pooling: Pooling | undefined;
  if (poolingConfig?.pooling_mode_cls_token) pooling = 'cls';
  else if (poolingConfig?.pooling_mode_lasttoken) pooling = 'last';
  else if (poolingConfig?.pooling_mode_mean_tokens) pooling = 'mean';
  return { pooling, normalize };
}

/** Largest real limit among the model's declared lengths (tokenizers often say 1e30 for "none"). */
function maxLengthOf(hfConfig: Record<string, unknown>, tokenizerConfig: Record<string, unknown>): number {
  const candidates = [hfConfig.max_position_embeddings, tokenizerConfig.model_max_length, hfConfig.n_positions]
    .filter((n): n is number => typeof n === 'number' && n > 0 && n < 1e7);
  return candidates.length ? Math.min(...candidates) : 512;
}

export function readManifest(dir: string): ModelManifest {
  if (!existsSync(join(dir, 'config.json'))) {
    throw new RuntimeError('internal', `no model at ${dir} (config.json missing)`);
  }
  const hfConfig = readJson(join(dir, 'config.json'));
  const tokenizerConfig = readOptionalJson(join(dir, 'tokenizer_config.json')) ?? {};
  const templateFile = join(dir, 'chat_template.jinja');
  const inlineTemplate = typeof tokenizerConfig.chat_template === 'string' ? tokenizerConfig.chat_template : undefined;
  return {
    dir,
    hfConfig,
    tokenizerJson: readJson(join(dir, 'tokenizer.json')),
    tokenizerConfig,
    chatTemplate: existsSync(templateFile) ? readFileSync(templateFile, 'utf8') : inlineTemplate,
    generationConfig: readOptionalJson(join(dir, 'generation_config.json')) ?? {},
    maxLength: maxLengthOf(hfConfig, tokenizerConfig),
    ...readPooling(dir),
  };
}
