// The Open Inference Protocol gRPC service (GRPCInferenceService of open_inference_grpc.proto) over
// a Runtime, on its own port: liveness, readiness, metadata and ModelInfer with the REST routes'
// semantics. Every failure is a status from the one error table, with a message.
import { Server, ServerCredentials, status, type handleUnaryCall, type Metadata, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '../../runtime/index.ts';
import { apiKeyCheck } from '../shared/auth.ts';
import { toGrpcError } from '../shared/errors.ts';
import { inferRequestFromGrpc, inferResponseToGrpc, PROTO_LOADER_OPTIONS, type GrpcInferRequest } from './grpc-codec.ts';
import { OIP_TASKS } from './tasks.ts';
import { decodeRequest } from './tensors.ts';
import { EXTENSIONS, isModelReady, MODEL_VERSION, platformOf, selectOutputs, servedModel, VERSION } from './models.ts';
import { modelMetadataToWire, serverMetadata } from './wire.ts';

/** Largest request message: the REST routes' default body limit. */
const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

/** How long close() lets calls in flight finish before it cancels them (default). */
export const DEFAULT_GRPC_DRAIN_MS = 30_000;

/** setTimeout fires at once above this, so longer drains are clamped to it. */
const MAX_TIMER_MS = 2_147_483_647;

const PROTO_PATH = fileURLToPath(new URL('./open_inference_grpc.proto', import.meta.url));

/** The service's definition, from the proto (parsed once, on first use). */
let definition: ServiceDefinition | undefined;
function serviceDefinition(): ServiceDefinition {
  definition ??= loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS)['inference.GRPCInferenceService'] as ServiceDefinition;
  return definition;
}

/** `name` and `version` of ModelReady and ModelMetadata; an empty version lets the server choose. */
interface ModelRequest {
  name: string;
  version?: string;
}

/** Refuses a call's metadata with a message, or accepts it (undefined). */
type CallGuard = (metadata: Metadata) => string | undefined;

/**
 * A unary handler from a function of the request and the call's AbortSignal (aborted when the
 * client cancels or its deadline passes): its result is the answer, anything it throws a status.
 * A guard that refuses the call answers UNAUTHENTICATED before any work.
 */
function unary<Request, Response>(answer: (request: Request, signal: AbortSignal) => Response | Promise<Response>, guard?: CallGuard): handleUnaryCall<Request, Response> {
  return (call, callback) => {
    const refused = guard?.(call.metadata);
    if (refused !== undefined) return callback({ code: status.UNAUTHENTICATED, details: refused });
    const cancel = new AbortController();
    call.once('cancelled', () => cancel.abort());
    Promise.resolve()
      .then(() => answer(call.request, cancel.signal))
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(toGrpcError(err)),
      );
  };
}

/** API keys over gRPC metadata, as over HTTP headers: `authorization: Bearer <key>` or `x-api-key`. */
function keyGuard(keys: readonly string[]): CallGuard {
  const check = apiKeyCheck(keys);
  const first = (metadata: Metadata, key: string) => {
    const value = metadata.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  };
  return (metadata) => check(first(metadata, 'authorization'), first(metadata, 'x-api-key'));
}

export interface GrpcServiceOptions {
  /** When set, every method but ServerLive and ServerReady (the probes) requires one. */
  apiKeys?: readonly string[];
}

/** The GRPCInferenceService methods over a runtime. */
export function createGrpcService(runtime: Runtime, options: GrpcServiceOptions = {}): UntypedServiceImplementation {
  const model = (request: ModelRequest) => servedModel(runtime, request.name, request.version || undefined);
  const guard = options.apiKeys && options.apiKeys.length > 0 ? keyGuard(options.apiKeys) : undefined;
  return {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: runtime.isReady() })),
    ModelReady: unary((request: ModelRequest) => ({ ready: isModelReady(runtime, model(request).name) }), guard),
    ServerMetadata: unary(() => serverMetadata(VERSION, EXTENSIONS), guard),
    ModelMetadata: unary((request: ModelRequest) => {
      const meta = runtime.modelMetadata(model(request).name);
      return modelMetadataToWire(meta.name, platformOf(meta.engine), OIP_TASKS[meta.task].metadata(meta));
    }, guard),
    ModelInfer: unary(async (message: GrpcInferRequest, signal) => {
      const info = servedModel(runtime, message.model_name, message.model_version || undefined);
      const { request, chunks, raw } = inferRequestFromGrpc(message);
      const decoded = decodeRequest(request, chunks);
      const outputs = await OIP_TASKS[info.task].infer({ runtime, model: info.name, inputs: decoded.inputs, parameters: request.parameters, signal });
      return inferResponseToGrpc({ model_name: info.name, model_version: MODEL_VERSION, id: message.id ?? '' }, selectOutputs(outputs, decoded.outputs), raw);
    }, guard),
  };
}

export interface GrpcCloseOptions {
  /** How long calls in flight may take before they are cancelled (default 30 s). */
  timeoutMs?: number;
  /** Told when the timeout cancels calls. */
  log?: (line: string) => void;
}

export interface GrpcServer {
  /** Binds host:port (port 0: any free one) and serves; resolves with the port bound. */
  listen(port: number, host: string): Promise<number>;
  /**
   * Stops taking calls and waits for the ones in flight; after `timeoutMs` cancels them and closes
   * every connection. Calling it again returns the same close.
   */
  close(options?: GrpcCloseOptions): Promise<void>;
}

/** A host as gRPC's address syntax wants it: IPv6 literals in brackets. */
export const grpcHost = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);

export function createGrpcServer(runtime: Runtime, options: GrpcServiceOptions = {}): GrpcServer {
  const server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES });
  server.addService(serviceDefinition(), createGrpcService(runtime, options));
  let closing: Promise<void> | undefined;
  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.bindAsync(`${grpcHost(host)}:${port}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
      }),
    close: ({ timeoutMs = DEFAULT_GRPC_DRAIN_MS, log = () => {} } = {}) =>
      (closing ??= new Promise<void>((done) => {
        const bound = Math.min(timeoutMs, MAX_TIMER_MS);
        const deadline = setTimeout(() => {
          log(`gRPC drain timeout after ${bound / 1000} s: cancelling the calls in flight`);
          server.forceShutdown();
          done();
        }, bound);
        server.tryShutdown(() => {
          clearTimeout(deadline);
          done();
        });
      })),
  };
}
