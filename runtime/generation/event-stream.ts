// A push-to-pull bridge: callbacks push events, one consumer reads them with for await.

export interface EventStream<T> extends AsyncIterable<T> {
  push(event: T): void;
  end(): void;
  fail(err: unknown): void;
}

export function createEventStream<T>(): EventStream<T> {
  const buffered: T[] = [];
  let ended = false;
  let error: { err: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    push(event) {
      if (ended || error) return;
      buffered.push(event);
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    fail(err) {
      if (ended || error) return;
      error = { err };
      notify();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (buffered.length > 0) {
          yield buffered.shift() as T;
          continue;
        }
        if (error) throw error.err;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}
