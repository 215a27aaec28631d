// The inference worker: owns every onnxruntime-node session of the process. onnxruntime-node's
// run() is synchronous on its calling thread (microsoft/onnxruntime#19611), so it runs here,
// leaving the main event loop free for HTTP, streaming and cancellation.
import * as ort from 'onnxruntime-node';
import { parentPort } from 'node:worker_threads';
import { TENSOR_TYPES, type Tensor, type TensorInfo, type TensorType } from './backend.ts';
import { transferables, type LoadResult, type WorkerReply, type WorkerRequest } from './worker-protocol.ts';

const KNOWN_TYPES: ReadonlySet<string> = new Set<string>(TENSOR_TYPES);
const sessions = new Map<number, ort.InferenceSession>();
let nextSession = 1;

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) => {
    if (!m.isTensor || !KNOWN_TYPES.has(m.type)) throw new Error(`model value "${m.name}" has unsupported type ${m.isTensor ? m.type : 'non-tensor'}`);
    return { name: m.name, type: m.type as TensorType, shape: m.shape };
  });
}

async function handle(request: WorkerRequest): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
  switch (request.op) {
    case 'load': {
      const session = await ort.InferenceSession.create(request.file, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        interOpNumThreads: 1,
        ...(request.threads === undefined ? {} : { intraOpNumThreads: request.threads }),
      });
      const id = nextSession++;
      sessions.set(id, session);
      const result: LoadResult = { session: id, inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
      return { result, transfer: [] };
    }
    case 'run': {
      const session = sessions.get(request.session);
      if (!session) throw new Error(`no session ${request.session}`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(request.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const results = await session.run(feeds);
      const out: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(results)) out[name] = { type: t.type as TensorType, data: t.data as Tensor['data'], dims: t.dims };
      const kept = (request.keep ?? []).map((name) => request.feeds[name]).filter((t): t is Tensor => t !== undefined);
      for (const name of request.keep ?? []) if (request.feeds[name]) out[name] = request.feeds[name];
      return { result: out, transfer: transferables(Object.values(out), kept) };
    }
    case 'release': {
      await sessions.get(request.session)?.release();
      sessions.delete(request.session);
      return { result: null, transfer: [] };
    }
  }
}

// onnxruntime-node defers run() to setImmediate, so a release that arrives meanwhile would free
// the session under it: each session's operations run strictly one after another.
const lanes = new Map<number, Promise<unknown>>();
function inLane<T>(request: WorkerRequest, work: () => Promise<T>): Promise<T> {
  if (request.op === 'load') return work();
  const previous = lanes.get(request.session) ?? Promise.resolve();
  const next = previous.then(work, work);
  lanes.set(request.session, next.catch(() => {}));
  if (request.op === 'release') void next.finally(() => lanes.delete(request.session));
  return next;
}

const port = parentPort;
if (!port) throw new Error('onnxruntime-worker.ts must run as a worker thread');
port.on('message', (request: WorkerRequest) => {
  inLane(request, () => handle(request)).then(
    ({ result, transfer }) => port.postMessage({ id: request.id, ok: true, result } satisfies WorkerReply, transfer),
    (err: unknown) => port.postMessage({ id: request.id, ok: false, message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
  );
});
