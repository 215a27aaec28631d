// Server-sent events for OpenAI streams: `data: <json>` frames, `: ping` comments while nothing
// else is sent, `data: [DONE]` at the end, an error frame after headers, and abort wiring so a
// client that goes away stops its generation.
import type { Context } from 'hono';
import { toWireError, type ErrorFlavor } from './errors.ts';

export interface SseOptions {
  /** Send a `: ping` comment after this long without data (long prefill, proxies). */
  keepAliveMs: number;
}

export const DEFAULT_SSE: SseOptions = { keepAliveMs: 15_000 };

export interface SseWriter {
  send(data: unknown): void;
  /** A named event (`event: <name>` then its data), as the Responses and Anthropic streams send. */
  sendEvent(name: string, data: unknown): void;
}

/** How a stream ends: OpenAI's `[DONE]` marker or none; errors in the API's envelope, as a named event where the API names them. */
export interface SseEnding {
  done: string | null;
  flavor: ErrorFlavor;
  errorEvent?: string;
}

const encoder = new TextEncoder();

/**
 * Streams `produce`'s frames. `cancel` is the controller whose signal the generation got: it is
 * aborted when the client disconnects or stops reading. A throw from `produce` becomes a
 * `data: {"error": ...}` frame in the API's envelope; `ending.done` is the closing marker
 * (OpenAI's `[DONE]`; the OIP generate extension sends none).
 */
export function sseResponse(
  c: Context,
  options: SseOptions,
  cancel: AbortController,
  produce: (writer: SseWriter) => Promise<void>,
  ending: SseEnding = { done: '[DONE]', flavor: 'openai' },
): Response {
  const abort = () => cancel.abort();
  const request = c.req.raw.signal;
  request.addEventListener('abort', abort, { once: true });
  let ping: NodeJS.Timeout | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(stream) {
      let open = true;
      const write = (text: string) => {
        if (!open) return;
        try {
          stream.enqueue(encoder.encode(text));
        } catch {
          open = false; // the consumer is gone
        }
      };
      const keepAlive = () => {
        clearTimeout(ping);
        ping = setTimeout(() => {
          write(': ping\n\n');
          keepAlive();
        }, options.keepAliveMs);
      };
      keepAlive();
      const writer: SseWriter = {
        send(data) {
          write(`data: ${JSON.stringify(data)}\n\n`);
          keepAlive();
        },
        sendEvent(name, data) {
          write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
          keepAlive();
        },
      };
      produce(writer)
        .then(
          () => {
            if (ending.done !== null) write(`data: ${ending.done}\n\n`);
          },
          (err: unknown) => {
            if (!cancel.signal.aborted) write(`${ending.errorEvent ? `event: ${ending.errorEvent}\n` : ''}data: ${JSON.stringify(toWireError(err, ending.flavor).body)}\n\n`);
          },
        )
        .finally(() => {
          clearTimeout(ping);
          request.removeEventListener('abort', abort);
          if (open) {
            open = false;
            try {
              stream.close();
            } catch {
              // already cancelled
            }
          }
        });
    },
    cancel() {
      clearTimeout(ping);
      abort();
    },
  });
  return c.newResponse(body, 200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    // What OVMS sends; never to a client that asked to close the connection.
    ...(/\bclose\b/i.test(c.req.header('connection') ?? '') ? {} : { Connection: 'keep-alive' }),
    'X-Accel-Buffering': 'no',
  });
}
