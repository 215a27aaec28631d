// The inference worker: owns every onnxruntime-node session of the process. onnxruntime-node's
// run() is synchronous on its calling thread (microsoft/onnxruntime#19611), so it runs here,
// leaving the main event loop free for HTTP, streaming and cancellation.
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { TENSOR_TYPES, type Backend, type Feeds, type Tensor, type TensorInfo, type TensorType } from './backend.ts';
import { createOwnedKvEngine, ownedKvDecoderOf, type OwnedKvEngine, type RawPrefill } from './owned-kv-session.ts';
import { transferables, type LoadResult, type WorkerReply, type WorkerRequest } from './worker-protocol.ts';

const KNOWN_TYPES: ReadonlySet<string> = new Set<string>(TENSOR_TYPES);
const sessions = new Map<number, ort.InferenceSession>();
/** Decoder sessions, one per model session at most, living beside it. */
const decoders = new Map<number, OwnedKvEngine>();
let nextSession = 1;

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) => {
    if (!m.isTensor || !KNOWN_TYPES.has(m.type)) throw new Error(`model value "${m.name}" has unsupported type ${m.isTensor ? m.type : 'non-tensor'}`);
    return { name: m.name, type: m.type as TensorType, shape: m.shape };
  });
}

async function runSession(session: ort.InferenceSession, given: Feeds, keep: readonly string[] = []): Promise<Record<string, Tensor>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(given)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const results = await session.run(feeds);
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(results)) out[name] = { type: t.type as TensorType, data: t.data as Tensor['data'], dims: t.dims };
  for (const name of keep) if (given[name]) out[name] = given[name];
  return out;
}

/** The model session as a Backend, inside this thread (no transfers). */
function localBackend(session: ort.InferenceSession): Backend {
  return {
    engine: 'onnxruntime',
    inputs: describe(session.inputMetadata),
    outputs: describe(session.outputMetadata),
    run: (feeds, _signal, keep) => runSession(session, feeds, keep),
    dispose: async () => {},
  };
}

function sessionOf(id: number): ort.InferenceSession {
  const session = sessions.get(id);
  if (!session) throw new Error(`no session ${id}`);
  return session;
}

function decoderOf(id: number): OwnedKvEngine {
  const decoder = decoders.get(id);
  if (!decoder) throw new Error(`no decoder session for model session ${id}`);
  return decoder;
}

const none = { result: null, transfer: [] as ArrayBuffer[] };

async function handle(request: WorkerRequest): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
  switch (request.op) {
    case 'load': {
      const session = await ort.InferenceSession.create(request.file, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        interOpNumThreads: 1,
        // Every core unless told otherwise: onnxruntime-node's own default measured 1.3x slower
        // here (decode, batch 8, 2 cores).
        intraOpNumThreads: request.threads ?? availableParallelism(),
      });
      const id = nextSession++;
      sessions.set(id, session);
      const result: LoadResult = { session: id, inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
      return { result, transfer: [] };
    }
    case 'run': {
      const out = await runSession(sessionOf(request.session), request.feeds, request.keep);
      const kept = (request.keep ?? []).map((name) => request.feeds[name]).filter((t): t is Tensor => t !== undefined);
      return { result: out, transfer: transferables(Object.values(out), kept) };
    }
    case 'release': {
      await sessions.get(request.session)?.release();
      sessions.delete(request.session);
      decoders.delete(request.session);
      return none;
    }
    case 'decoder.open': {
      const model = ownedKvDecoderOf(localBackend(sessionOf(request.session)), request.maxPositions, request.maxRows);
      if (!model) throw new Error('the model is not a fused decoder (outputs new.{i}.key/value)');
      decoders.set(request.session, createOwnedKvEngine(model));
      return none;
    }
    case 'decoder.call': {
      const engine = decoderOf(request.session);
      const result = await (engine[request.method] as (...args: unknown[]) => unknown)(...request.args);
      // Runs answer logits (alone, or inside RawPrefills, which may view one array): they move, not copy.
      const answers = Array.isArray(result) ? result : [result];
      const logits = answers.map((r) => (r instanceof Float32Array ? r : (r as Partial<RawPrefill> | undefined)?.logits)).filter((l) => l !== undefined);
      return { result: result ?? null, transfer: [...new Set(logits.map((l) => l.buffer as ArrayBuffer))] };
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
