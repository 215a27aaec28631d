// RuntimeError: the one error type the runtime throws; handlers map its kind to a status.

/** What went wrong, in runtime terms. handlers/shared/errors.ts maps each kind to HTTP. */
export type RuntimeErrorKind =
  | 'invalid_request' // the caller asked for something malformed or impossible
  | 'model_not_found' // no model of that name is configured
  | 'wrong_task' // the model exists but serves another task
  | 'context_length_exceeded' // input (plus requested output) is longer than the model allows
  | 'unsupported' // a valid parameter this server does not implement
  | 'queue_full' // backpressure: the model's queue is at its limit
  | 'not_ready' // models are still loading, or the server is draining
  | 'cancelled' // the caller went away
  | 'internal'; // a fault of ours or of the backend

export class RuntimeError extends Error {
  readonly kind: RuntimeErrorKind;
  /** The request field the error is about, when there is one (wire name chosen by the handler). */
  readonly param: string | null;
  /** Seconds a client should wait before retrying (queue_full, not_ready). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: RuntimeErrorKind,
    message: string,
    options: { param?: string | null; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RuntimeError';
    this.kind = kind;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Throws `cancelled` when the signal has fired; called before work that costs compute. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RuntimeError('cancelled', 'The request was cancelled by the client.');
}
