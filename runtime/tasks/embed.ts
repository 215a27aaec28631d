// The embeddings task: tokenize, batch through the encoder queue, pool, normalise, cut dimensions.
import type { Backend } from '../backends/backend.ts';
import { mapCooperatively } from '../cooperative.ts';
import { createEncoderQueue, type EncoderQueue } from '../batching/encoder-queue.ts';
import type { ModelEntry } from '../config.ts';
import { RuntimeError } from '../errors.ts';
import type { ModelManifest, Pooling } from '../manifest.ts';
import { assertFits, type Tokenizer } from '../tokenizer.ts';
import type { EmbedRequest, EmbedResult } from '../types.ts';
import { padEncoderBatch, type EncoderSequence } from './encoder-batch.ts';
import { l2Normalize, poolRow, truncateDimensions } from './pooling.ts';

export interface Embedder {
  readonly dimensions: number;
  readonly queue: EncoderQueue<EncoderSequence, Float32Array>;
  embed(request: EmbedRequest): Promise<EmbedResult>;
}

function nativeDimensions(backend: Backend, manifest: ModelManifest): number {
  const last = backend.outputs[0]?.shape.at(-1);
  if (typeof last === 'number') return last;
  const hidden = manifest.hfConfig.hidden_size;
  if (typeof hidden === 'number') return hidden;
  throw new RuntimeError('internal', `cannot tell the embedding size of ${manifest.dir}`);
}

export function createEmbedder(entry: ModelEntry, manifest: ModelManifest, backend: Backend, tokenizer: Tokenizer): Embedder {
  const pooling: Pooling = entry.pooling ?? manifest.pooling ?? 'mean';
  const normalize = entry.normalize ?? manifest.normalize ?? true;
  const dimensions = nativeDimensions(backend, manifest);
  const padId = typeof manifest.hfConfig.pad_token_id === 'number' ? manifest.hfConfig.pad_token_id : 0;
  // A model that exports a pooled output (sentence_embedding, [batch, dim]) is used as is.
  const output = backend.outputs.find((o) => o.name === 'last_hidden_state') ?? backend.outputs[0];
  if (!output) throw new RuntimeError('internal', `${manifest.dir} has no outputs`);
  const pooledOutput = output.shape.length === 2;

  const queue = createEncoderQueue<EncoderSequence, Float32Array>(
    {
      maxBatchRequests: entry.max_batch_requests,
      maxBatchTokens: entry.max_batch_tokens,
      maxWaitMs: entry.max_wait_ms,
      maxQueuedRequests: entry.max_queued_requests,
      maxQueuedTokens: entry.max_queued_tokens,
    },
    async (sequences) => {
      const { feeds, width } = padEncoderBatch(backend, sequences, padId);
      const result = await backend.run(feeds);
      const hidden = result[output.name]?.data;
      if (!(hidden instanceof Float32Array)) throw new RuntimeError('internal', `unexpected ${output.name} output`);
      return sequences.map((s, row) => {
        const v = pooledOutput
          ? hidden.slice(row * dimensions, (row + 1) * dimensions)
          : poolRow(hidden, width, dimensions, row, s.ids.length, pooling);
        return normalize ? l2Normalize(v) : v;
      });
    },
  );

  function encode(input: string | number[]): EncoderSequence {
    if (typeof input === 'string') {
      const encoded = tokenizer.encodeSingle(input, manifest.maxLength);
      assertFits(encoded, manifest.maxLength, entry.truncate, 'input');
      return encoded;
    }
    const bad = input.find((id) => id >= tokenizer.vocabSize);
    if (bad !== undefined) throw new RuntimeError('invalid_request', `Token id ${bad} is outside the vocabulary (size ${tokenizer.vocabSize}).`, { param: 'input' });
    if (input.length > manifest.maxLength && !entry.truncate) {
      throw new RuntimeError('context_length_exceeded', `Input is longer than the model's maximum of ${manifest.maxLength} tokens.`, { param: 'input' });
    }
    const ids = input.slice(0, manifest.maxLength);
    return { ids, typeIds: ids.map(() => 0) };
  }

  return {
    dimensions,
    queue,
    async embed(request) {
      const wanted = request.dimensions ?? dimensions;
      if (wanted > dimensions || (wanted < dimensions && !entry.matryoshka)) {
        const why = entry.matryoshka ? `at most ${dimensions}` : `${dimensions} (the model is not configured as Matryoshka)`;
        throw new RuntimeError('invalid_request', `dimensions must be ${why}; got ${wanted}.`, { param: 'dimensions' });
      }
      // Each text is tokenized only as far as the model reads it, a few milliseconds at a time.
      const sequences = await mapCooperatively(request.inputs, encode, request.signal);
      const vectors = await queue.submit(
        sequences.map((s) => ({ item: s, length: s.ids.length })),
        request.signal,
      );
      return {
        model: entry.name,
        embeddings: wanted < dimensions ? vectors.map((v) => truncateDimensions(v, wanted)) : vectors,
        promptTokens: sequences.reduce((n, s) => n + s.ids.length, 0),
      };
    },
  };
}
