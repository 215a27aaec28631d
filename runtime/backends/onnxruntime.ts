// onnxruntime-node backend: sessions live in one inference worker thread (onnxruntime-worker.ts);
// tensors cross by transfer, not copy, so even large KV caches move in O(1).
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../worker-spawn.ts';
import { RuntimeError, throwIfAborted } from '../errors.ts';
import type { Backend, BackendFactory, Feeds, Tensor } from './backend.ts';
import { sessionOverEngine, type OwnedKvEngine, type RawPrefill } from './owned-kv-session.ts';
import { transferables, type EngineMethod, type LoadResult, type WorkerReply, type WorkerRequest } from './worker-protocol.ts';

type Pending = { resolve: (value: unknown) => void; reject: (err: unknown) => void };
type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const spawnWorker = (): Worker => spawnModuleWorker(import.meta.url, './onnxruntime-worker');

/** The process-wide worker, started on first use and stopped when its last session is released. */
const host = (() => {
  let worker: Worker | undefined;
  let nextId = 1;
  let sessions = 0;
  const pending = new Map<number, Pending>();

  function failAll(err: unknown) {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = undefined;
    sessions = 0;
  }

  function ensure(): Worker {
    if (worker) return worker;
    const w = spawnWorker();
    w.on('message', (reply: WorkerReply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new RuntimeError('internal', `onnxruntime: ${reply.message}`));
    });
    w.on('error', (err) => failAll(new RuntimeError('internal', `inference worker failed: ${err.message}`, { cause: err })));
    w.on('exit', (code) => failAll(new RuntimeError('internal', `inference worker exited (code ${code})`)));
    worker = w;
    return w;
  }

  return {
    call<T>(request: Request, transfer: ArrayBuffer[] = []): Promise<T> {
      const w = ensure();
      const id = nextId++;
      w.ref(); // keep the process alive while a call is out
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        w.postMessage({ ...request, id }, transfer);
      });
    },
    opened() {
      sessions++;
    },
    async closed() {
      if (--sessions > 0 || !worker) return;
      const w = worker;
      worker = undefined;
      await w.terminate();
    },
  };
})();

/**
 * The main thread's face of an engine kept in the worker. Calls are sent in order and the worker
 * runs them in order; the runs (prefill, extend, decode) are awaited, the bookkeeping calls are
 * not, and should one of those fail, the next run rejects with its error.
 */
function workerEngine(call: (method: EngineMethod, args: unknown[]) => Promise<unknown>): OwnedKvEngine {
  let rows = 0;
  let failure: unknown;
  const send = (method: EngineMethod, ...args: unknown[]) => void call(method, args).catch((err: unknown) => (failure ??= err));
  const run = async <T>(method: EngineMethod, ...args: unknown[]): Promise<T> => {
    if (failure !== undefined) {
      const err = failure;
      failure = undefined;
      throw err;
    }
    return (await call(method, args)) as T;
  };
  const copy = (tokens: ReadonlyArray<readonly number[]>) => tokens.map((t) => [...t]);
  return {
    get rows() {
      return rows;
    },
    async prefill(prompts, everyPosition = []) {
      const raw = await run<RawPrefill>('prefill', copy(prompts), [...everyPosition]);
      rows += prompts.length;
      return raw;
    },
    extend: (first, tokens, everyPosition = []) => run<RawPrefill>('extend', first, copy(tokens), [...everyPosition]),
    extendPair: (a, b) => run<[RawPrefill, RawPrefill]>('extendPair', ...[a, b].map((r) => ({ first: r.first, tokens: copy(r.tokens), everyPosition: [...(r.everyPosition ?? [])] }))),
    decode: (tokens) => run<Float32Array>('decode', [...tokens]),
    keepRows(order) {
      rows = order.length;
      send('keepRows', [...order]);
    },
    fork(row, copies) {
      rows += copies;
      send('fork', row, copies);
    },
    truncate: (row, length) => send('truncate', row, length),
    reset() {
      rows = 0;
      failure = undefined;
      send('reset');
    },
    saveBlocks: (row, firstBlock, ids) => send('saveBlocks', row, firstBlock, [...ids]),
    openBlocks(ids, positions) {
      rows += 1;
      send('openBlocks', [...ids], positions);
    },
    dropBlocks: (ids) => send('dropBlocks', [...ids]),
  };
}

export const createOnnxRuntimeBackend: BackendFactory = async (modelFile, options) => {
  const loaded = await host.call<LoadResult>({ op: 'load', file: modelFile, threads: options.threads });
  host.opened();
  let released = false;
  // Runs still out, including ones whose requests were cancelled: release must wait for them.
  const running = new Set<Promise<unknown>>();
  const backend: Backend = {
    engine: 'onnxruntime',
    inputs: loaded.inputs,
    outputs: loaded.outputs,
    /** Feed buffers are transferred to the worker: callers must not reuse them after this call. */
    async run(feeds: Feeds, signal?: AbortSignal, keep?: readonly string[]) {
      throwIfAborted(signal);
      if (released) throw new RuntimeError('internal', 'the model has been released');
      const kept = (keep ?? []).map((name) => feeds[name]).filter((t): t is Tensor => t !== undefined);
      const run = host.call<Record<string, Tensor>>({ op: 'run', session: loaded.session, feeds, ...(keep ? { keep } : {}) }, transferables(Object.values(feeds), kept));
      running.add(run);
      const forget = () => running.delete(run);
      run.then(forget, forget);
      return run;
    },
    async openOwnedKvSession(maxPositions: number, maxRows?: number) {
      await host.call({ op: 'decoder.open', session: loaded.session, maxPositions, maxRows });
      return sessionOverEngine(
        workerEngine((method, args) => {
          if (released) throw new RuntimeError('internal', 'the model has been released');
          const call = host.call<unknown>({ op: 'decoder.call', session: loaded.session, method, args });
          running.add(call);
          const forget = () => running.delete(call);
          call.then(forget, forget);
          return call;
        }),
      );
    },
    async dispose() {
      if (released) return;
      released = true;
      await Promise.allSettled([...running]);
      await host.call({ op: 'release', session: loaded.session });
      await host.closed();
    },
  };
  return backend;
};
