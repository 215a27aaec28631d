// onnxruntime-node backend: sessions live in one inference worker thread (onnxruntime-worker.ts);
// tensors cross by transfer, not copy, so even large KV caches move in O(1).
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../worker-spawn.ts';
import { RuntimeError, throwIfAborted } from '../errors.ts';
import type { Backend, BackendFactory, DecoderSession, Feeds, Tensor } from './backend.ts';
import { prefillLogitsOf, type RawPrefill } from './owned-kv-session.ts';
import { transferables, type LoadResult, type WorkerReply, type WorkerRequest } from './worker-protocol.ts';

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

type DecoderRequest = Request extends infer R ? (R extends { op: `decoder.${string}` } ? Omit<R, 'session'> : never) : never;

/**
 * The main thread's face of a decoder session kept in the worker. Calls are sent in order and the
 * worker runs them in order; keep-rows, fork and reset are not awaited, and should one fail, the
 * next prefill or decode rejects with its error.
 */
function workerDecoderSession(call: (request: DecoderRequest) => Promise<unknown>): DecoderSession {
  let rows = 0;
  let failure: unknown;
  const send = (request: DecoderRequest) => void call(request).catch((err: unknown) => (failure ??= err));
  const check = () => {
    if (failure === undefined) return;
    const err = failure;
    failure = undefined;
    throw err;
  };
  return {
    get rows() {
      return rows;
    },
    async prefill(prompts, everyPosition = []) {
      check();
      const raw = (await call({ op: 'decoder.prefill', prompts: prompts.map((p) => [...p]), everyPosition: [...everyPosition] })) as RawPrefill;
      rows += prompts.length;
      return prefillLogitsOf(raw);
    },
    async decode(tokens) {
      check();
      return (await call({ op: 'decoder.decode', tokens: [...tokens] })) as Float32Array;
    },
    keepRows(order) {
      rows = order.length;
      send({ op: 'decoder.keepRows', rows: [...order] });
    },
    fork(row, copies) {
      rows += copies;
      send({ op: 'decoder.fork', row, copies });
    },
    reset() {
      rows = 0;
      failure = undefined;
      send({ op: 'decoder.reset' });
    },
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
    async openOwnedKvSession(maxPositions: number) {
      await host.call({ op: 'decoder.open', session: loaded.session, maxPositions });
      return workerDecoderSession((request) => {
        if (released) throw new RuntimeError('internal', 'the model has been released');
        const call = host.call<unknown>({ ...request, session: loaded.session } as Request);
        running.add(call);
        const forget = () => running.delete(call);
        call.then(forget, forget);
        return call;
      });
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
