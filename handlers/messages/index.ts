// POST /messages and /messages/count_tokens (mounted under /v1 and /v3): Anthropic's Messages API
// over the chat generation, unary or streamed with Anthropic's event sequence and error envelope.
import type { Hono } from 'hono';
import type { Runtime } from '../../runtime/index.ts';
import { withWireParams } from '../shared/errors.ts';
import { answerGeneration } from '../shared/generation-route.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { DEFAULT_SSE, type SseOptions, type SseWriter } from '../shared/sse.ts';
import { jsonBody } from '../shared/validate.ts';
import {
  blockDelta,
  blockStart,
  blockStop,
  conversationFromWire,
  CountTokensRequestSchema,
  fromWire,
  messageDelta,
  messageId,
  MESSAGES_WIRE_PARAMS,
  MessagesRequestSchema,
  messageStart,
  stopReasonOf,
  toolUseId,
  toWire,
  type BlockKind,
} from './wire.ts';

/** Numbers the content blocks of one streamed message and opens and closes them in order. */
function blockWriter(out: SseWriter) {
  let index = -1;
  let open: BlockKind | undefined;
  const close = () => {
    if (open !== undefined) out.sendEvent('content_block_stop', blockStop(index));
    open = undefined;
  };
  return {
    text(kind: BlockKind, text: string) {
      if (open !== kind) {
        close();
        open = kind;
        out.sendEvent('content_block_start', blockStart(++index, { type: kind }));
      }
      out.sendEvent('content_block_delta', blockDelta(index, kind, text));
    },
    toolUse(name: string, args: string) {
      close();
      out.sendEvent('content_block_start', blockStart(++index, { type: 'tool_use', id: toolUseId(), name }));
      out.sendEvent('content_block_delta', blockDelta(index, 'tool_use', args));
      out.sendEvent('content_block_stop', blockStop(index));
    },
    /** At the end: a message with no block gets an empty text block, as Anthropic's do. */
    end() {
      if (index < 0) {
        out.sendEvent('content_block_start', blockStart(++index, { type: 'text' }));
        open = 'text';
      }
      close();
    },
  };
}

export function createMessagesApp(runtime: Runtime, sse: SseOptions = DEFAULT_SSE): Hono {
  const app = createRouteApp('anthropic');
  app.post('/messages', ...jsonBody(MessagesRequestSchema, 'anthropic'), async (c) => {
    const body = c.req.valid('json');
    const id = messageId();
    return answerGeneration(c, runtime, sse, {
      stream: body.stream === true,
      request: (signal) => fromWire(body, signal),
      wireParams: MESSAGES_WIRE_PARAMS,
      unary: (generation, choices) => toWire(id, body.model, choices[0] as NonNullable<(typeof choices)[0]>, generation.promptTokens, generation.completionTokens(), generation.cachedTokens()),
      ending: { done: null, flavor: 'anthropic', errorEvent: 'error' },
      async streamed(generation, out) {
        out.sendEvent('message_start', messageStart(id, body.model, generation.promptTokens));
        out.sendEvent('ping', { type: 'ping' });
        const blocks = blockWriter(out);
        for await (const event of generation) {
          if (event.type === 'finish') {
            blocks.end();
            out.sendEvent('message_delta', messageDelta(stopReasonOf(event.reason, event.stopSequence), event.stopSequence, generation.promptTokens, generation.completionTokens(), generation.cachedTokens()));
            continue;
          }
          if (event.reasoning) blocks.text('thinking', event.reasoning);
          if (event.text !== '') blocks.text('text', event.text);
          for (const call of event.toolCalls ?? []) blocks.toolUse(call.name, call.arguments);
        }
        out.sendEvent('message_stop', { type: 'message_stop' });
      },
    });
  });
  app.post('/messages/count_tokens', ...jsonBody(CountTokensRequestSchema, 'anthropic'), async (c) => {
    const body = c.req.valid('json');
    const { messages, tools } = conversationFromWire(body);
    const counted = await runtime
      .tokenize({ model: body.model, input: { messages }, ...(tools ? { tools } : {}) })
      .catch((err: unknown) => Promise.reject(withWireParams(err, MESSAGES_WIRE_PARAMS)));
    return c.json({ input_tokens: counted.ids.length });
  });
  return app;
}
