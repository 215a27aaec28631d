// The rewritten copy of a model file: rewritten once, then reused, under a key of the source bytes.
// <source dir>/.ovserve-cache/<stem>.<tag>.<key>.onnx and its weights, <…>.onnx.data, are each
// written atomically (temp file, then rename), the data first.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { withExternalData } from './external-data.ts';
import { decodeModel, encodeModel, type ModelProto } from './model-proto.ts';
import { DEFAULT_MIN_ELEMENTS, quantizeInt8, type Int8Options, type QuantizedMatMul } from './quantize-int8.ts';

export type QuantizeScheme = 'int8';

export const CACHE_DIR_NAME = '.ovserve-cache';

/** Names the rewrite's output format; bump it whenever the rewrite changes what it writes. */
export const INT8_RECIPE = 'ovserve-int8-v2';

export interface RewriteSummary {
  source: string;
  file: string;
  quantized: QuantizedMatMul[];
  skipped: Array<{ node: string; reason: string }>;
  ms: number;
}

export interface QuantizedFileOptions extends Int8Options {
  /** Where cache files go; default `.ovserve-cache` beside the source file. */
  cacheDir?: string;
  /** Called after a rewrite (not on reuse), e.g. to log what was quantized. */
  onRewrite?: (summary: RewriteSummary) => void;
  /** Only look: a file not cached yet throws NotCachedError instead of being made. */
  onlyIfCached?: boolean;
}

/** The line hashed ahead of the source bytes: everything besides them that decides the output. */
export function recipeLine(scheme: QuantizeScheme, options: Int8Options = {}): string {
  return `${scheme} ${INT8_RECIPE} min_elements=${options.minElements ?? DEFAULT_MIN_ELEMENTS} reduce_range=${options.reduceRange ? 1 : 0}\n`;
}

/** The cache file name for a key (a sha256 hex digest). */
export function cacheFileName(sourceFile: string, scheme: string, key: string): string {
  const name = basename(sourceFile);
  const stem = extname(name) === '.onnx' ? name.slice(0, -'.onnx'.length) : name;
  return `${stem}.${scheme}.${key.slice(0, 16)}.onnx`;
}

async function streamedKey(file: string, recipe: string): Promise<string> {
  const hash = createHash('sha256').update(recipe);
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const exists = (file: string) => access(file).then(() => true, () => false);

/** Writes `chunks` to `file` through a temp file and a rename, so readers never see a partial model. */
async function writeAtomically(file: string, chunks: readonly Uint8Array[]): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomUUID()}`;
  const handle = await open(temp, 'w');
  try {
    for (let i = 0; i < chunks.length; i += 256) {
      const batch = chunks.slice(i, i + 256);
      const { bytesWritten } = await handle.writev(batch);
      if (bytesWritten !== batch.reduce((n, c) => n + c.length, 0)) throw new Error(`short write to ${temp}`);
    }
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Thrown by a cache lookup asked not to rewrite (onlyIfCached) when the file is not there yet. */
export class NotCachedError extends Error {
  constructor(file: string) {
    super(`${file} is not in the cache yet`);
  }
}

/** A rewrite of a decoded model; what it returns is written to the cache. */
export type ModelRewrite = (model: ModelProto) => ModelProto;

async function rewrite(sourceFile: string, tag: string, recipe: string, transform: ModelRewrite, cacheDir: string): Promise<{ file: string; written: boolean }> {
  const bytes = await readFile(sourceFile);
  // Key the bytes actually rewritten (the file may have changed since it was hashed).
  const key = createHash('sha256').update(recipe).update(bytes).digest('hex');
  const file = join(cacheDir, cacheFileName(sourceFile, tag, key));
  if (await exists(file)) return { file, written: false };
  // Weights go to <file>.data, page-aligned, which onnxruntime maps instead of copying: the
  // server then holds them once (RSS after load measured 0.8x the q4 file, not 1.6x).
  const { model, data } = withExternalData(transform(decodeModel(bytes)), `${basename(file)}.data`);
  try {
    await mkdir(cacheDir, { recursive: true });
    await writeAtomically(`${file}.data`, data); // before the model: a model file implies its data
    await writeAtomically(file, encodeModel(model));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new Error(`cannot write the ${tag} model cache in ${cacheDir} (${code}); give a writable cacheDir`, { cause: err });
    }
    throw err;
  }
  return { file, written: true };
}

const inFlight = new Map<string, Promise<{ file: string; written: boolean }>>();

/**
 * The path of `sourceFile` rewritten by `transform`, made on first use and reused while the source
 * bytes and `recipe` (a line naming everything else that decides the output) are unchanged.
 * Concurrent calls for one file share one rewrite. `written` says whether this call made it.
 */
export async function cachedRewriteFile(sourceFile: string, tag: string, recipe: string, transform: ModelRewrite, cacheDir = join(dirname(sourceFile), CACHE_DIR_NAME), onlyIfCached = false): Promise<{ file: string; written: boolean }> {
  const key = await streamedKey(sourceFile, recipe);
  const file = join(cacheDir, cacheFileName(sourceFile, tag, key));
  if (await exists(file)) return { file, written: false };
  if (onlyIfCached) throw new NotCachedError(file);
  const pending = inFlight.get(file);
  if (pending) return pending;
  const job = rewrite(sourceFile, tag, recipe, transform, cacheDir).finally(() => inFlight.delete(file));
  inFlight.set(file, job);
  return job;
}

/**
 * The path of `sourceFile` rewritten with `scheme`, made on first use and reused while the source
 * bytes (and the recipe) are unchanged. Concurrent calls for one file share one rewrite.
 */
export async function quantizedModelFile(sourceFile: string, scheme: QuantizeScheme, options: QuantizedFileOptions = {}): Promise<string> {
  if (scheme !== 'int8') throw new Error(`unknown quantize scheme "${String(scheme)}"; known: int8`);
  const started = performance.now();
  let result: ReturnType<typeof quantizeInt8> | undefined;
  const transform: ModelRewrite = (model) => (result = quantizeInt8(model, options)).model;
  const { file } = await cachedRewriteFile(sourceFile, scheme, recipeLine(scheme, options), transform, options.cacheDir, options.onlyIfCached);
  if (result) options.onRewrite?.({ source: sourceFile, file, quantized: result.quantized, skipped: result.skipped, ms: performance.now() - started });
  return file;
}
