// The file onnxruntime loads for a model: the source graph, or its rewrite — fused (a Llama-family
// decoder rebuilt in onnxruntime's fused form) and/or quantized (int8, q4) — made once and cached
// beside the source (or under the temp folder when that is read-only), keyed by the source bytes.
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { forkModule } from '../worker-spawn.ts';
import type { ModelProto } from './model-proto.ts';
import type { PrepareMessage, PrepareRequest } from './prepare-worker.ts';
import { fusedLlamaModel } from './fused-llama.ts';
import { llamaShapeOf, llamaWeightsOf } from './llama-weights.ts';
import { quantizeInt8 } from './quantize-int8.ts';
import { quantizeBlockwise } from './quantize-blocks.ts';
import { CACHE_DIR_NAME, cachedRewriteFile, NotCachedError, quantizedModelFile, type ModelRewrite } from './quantized-cache.ts';

export type Quantize = 'none' | 'int8' | 'q4';

export interface PrepareOptions {
  quantize: Quantize;
  /** The model's config.json when a decoder should be fused; undefined serves the graph unfused. */
  fuse?: Record<string, unknown>;
  /** A text-generation model (decoders and encoders quantize differently). */
  decoder: boolean;
  /** Only look in the cache: what would need a rewrite throws NotCachedError instead. */
  onlyIfCached?: boolean;
  log: (line: string) => void;
}

/** Names what the fused rewrite writes; bump it whenever fused-llama.ts changes its output. */
export const FUSE_RECIPE = 'ovserve-fused-llama-v10';
/** Names what the blockwise quantizer writes (v3: FP32 weights it replaced are dropped beside If branches too). */
const BLOCK_RECIPE = 'ovserve-blockwise-v3';

/** Cache file tag of a quantized-only rewrite. */
const tagOf = (quantize: Quantize, decoder: boolean) => (decoder ? `${quantize}-blockwise` : quantize);

/** Thrown inside a rewrite when the graph is not one the fusion can rebuild. */
class NotFusable extends Error {}

interface Quantized {
  model: ModelProto;
  /** What was rewritten, for the log: "int8: 11 MatMul weights quantized". */
  summary: string;
}

function blockwise(model: ModelProto, bits: 4 | 8, transposedBits: 8 | undefined): Quantized {
  const r = quantizeBlockwise(model, { bits, transposedBits });
  const plain = r.quantized.filter((q) => !q.transposed).length;
  const head = r.quantized.length - plain;
  return { model: r.model, summary: `${bits === 4 ? 'q4' : 'int8'}: ${plain} MatMul weights in ${bits} bits${head ? `, ${head} tied head in 8 bits` : ''} (MatMulNBits)` };
}

/**
 * Decoders get blockwise weights with activations quantized per row (MatMulNBits), so greedy
 * tokens do not depend on batch-mates; encoders keep the per-column int8 rewrite (MatMulInteger),
 * measured faster on their large batches.
 */
function quantizerFor(quantize: Quantize, decoder: boolean): (model: ModelProto) => Quantized {
  if (quantize === 'none') return (model) => ({ model, summary: '' });
  if (quantize === 'q4') return (model) => blockwise(model, 4, decoder ? 8 : undefined);
  if (decoder) return (model) => blockwise(model, 8, 8);
  return (model) => {
    const r = quantizeInt8(model);
    return { model: r.model, summary: `int8: ${r.quantized.length} MatMul weights quantized` };
  };
}

/** Runs `make` with the cache beside the source, retrying under the temp folder when that fails. */
async function withCacheDir<T>(file: string, make: (cacheDir: string) => Promise<T>): Promise<T> {
  try {
    return await make(join(dirname(file), CACHE_DIR_NAME));
  } catch (err) {
    if (err instanceof NotFusable) throw err;
    return make(join(tmpdir(), 'ovserve-cache'));
  }
}

async function quantizedOnly(file: string, { quantize, decoder, log, onlyIfCached = false }: PrepareOptions): Promise<string> {
  if (quantize === 'none') return file;
  if (quantize === 'int8' && !decoder) {
    const onRewrite = (s: { quantized: unknown[]; ms: number; file: string }) => log(`int8: ${s.quantized.length} MatMul weights quantized in ${Math.round(s.ms)} ms -> ${s.file}`);
    return withCacheDir(file, (cacheDir) => quantizedModelFile(file, 'int8', { onRewrite, cacheDir, onlyIfCached }));
  }
  const started = performance.now();
  let summary = '';
  const rewrite: ModelRewrite = (model) => ({ model, summary } = quantizerFor(quantize, decoder)(model)).model;
  const { file: out, written } = await withCacheDir(file, (cacheDir) => cachedRewriteFile(file, tagOf(quantize, decoder), `${tagOf(quantize, decoder)} ${BLOCK_RECIPE}\n`, rewrite, cacheDir, onlyIfCached));
  if (written) log(`${summary} in ${Math.round(performance.now() - started)} ms -> ${out}`);
  return out;
}

export async function preparedModelFile(file: string, options: PrepareOptions): Promise<string> {
  const { quantize, log } = options;
  if (!options.fuse) return quantizedOnly(file, options);
  const shape = llamaShapeOf(options.fuse);
  if (typeof shape === 'string') {
    log(`fuse: not applied (${shape}); serving the graph as exported`);
    return quantizedOnly(file, options);
  }
  let summary = '';
  const rewrite: ModelRewrite = (model) => {
    const weights = llamaWeightsOf(model, shape);
    if (typeof weights === 'string') throw new NotFusable(weights);
    const quantized = quantizerFor(quantize, true)(fusedLlamaModel(shape, weights));
    summary = quantized.summary;
    return quantized.model;
  };
  const tag = quantize === 'none' ? 'fused' : `fused-${quantize}`;
  const recipe = `${tag} ${FUSE_RECIPE} ${quantize === 'none' ? '' : BLOCK_RECIPE} ${JSON.stringify(shape)}\n`;
  const started = performance.now();
  try {
    const { file: out, written } = await withCacheDir(file, (cacheDir) => cachedRewriteFile(file, tag, recipe, rewrite, cacheDir, options.onlyIfCached));
    if (written) log(`fuse: rebuilt as a fused decoder${summary ? `, ${summary},` : ''} in ${Math.round(performance.now() - started)} ms -> ${out}`);
    return out;
  } catch (err) {
    if (!(err instanceof NotFusable)) throw err;
    log(`fuse: not applied (${err.message}); serving the graph as exported`);
    return quantizedOnly(file, options);
  }
}

/**
 * preparedModelFile in a child process: the same file, with the log lines passed on. Rewriting a
 * 540 MB model holds a few times that at its peak, and a process that did it keeps much of that
 * resident afterwards (measured: 1.6 GB after a first start against 0.4 GB after a restart); a
 * child returns it all when it exits.
 */
export async function preparedModelFileOffThread(file: string, options: PrepareOptions): Promise<string> {
  // A cached rewrite (the usual start) is found here, without starting a process.
  try {
    return await preparedModelFile(file, { ...options, onlyIfCached: true });
  } catch (err) {
    if (!(err instanceof NotCachedError)) throw err;
  }
  const { log, onlyIfCached: _, ...rest } = options;
  const request: PrepareRequest = { file, options: rest };
  return new Promise<string>((resolve, reject) => {
    const child = forkModule(import.meta.url, './prepare-worker');
    let settled = false;
    child.on('message', (m: PrepareMessage) => {
      if ('log' in m) log(m.log);
      else {
        settled = true;
        if ('done' in m) resolve(m.done);
        else reject(new Error(m.error));
        child.disconnect();
      }
    });
    child.on('error', (err) => {
      settled = true;
      reject(err);
    });
    child.on('exit', (code) => {
      if (!settled) reject(new Error(`the model rewrite process exited (code ${code})`));
    });
    child.send(request);
  });
}
