// The rerank task: score (query, document) pairs with a cross-encoder, best first.
import { mapCooperatively } from '../cooperative.ts';
import { createEncoderQueue, type EncoderQueue } from '../batching/encoder-queue.ts';
import type { Backend } from '../backends/backend.ts';
import type { ModelEntry } from '../config.ts';
import { RuntimeError } from '../errors.ts';
import type { ModelManifest } from '../manifest.ts';
import { assertFits, type Tokenizer } from '../tokenizer.ts';
import type { RerankRequest, RerankResult } from '../types.ts';
import { padEncoderBatch, type EncoderSequence } from './encoder-batch.ts';
import { sigmoid } from './pooling.ts';

export interface Reranker {
  readonly queue: EncoderQueue<EncoderSequence, number>;
  rerank(request: RerankRequest): Promise<RerankResult>;
}

/** Relevance in [0, 1]: sigmoid of a single logit, or the positive class's softmax for two labels. */
function scoreRow(logits: Float32Array, labels: number, row: number): number {
  if (labels === 1) return sigmoid(logits[row] as number);
  const neg = logits[row * labels] as number;
  const pos = logits[row * labels + 1] as number;
  return sigmoid(pos - neg);
}

export function createReranker(entry: ModelEntry, manifest: ModelManifest, backend: Backend, tokenizer: Tokenizer): Reranker {
  const padId = typeof manifest.hfConfig.pad_token_id === 'number' ? manifest.hfConfig.pad_token_id : 0;
  const logitsInfo = backend.outputs.find((o) => o.name === 'logits') ?? backend.outputs[0];
  const labels = typeof logitsInfo?.shape.at(-1) === 'number' ? (logitsInfo.shape.at(-1) as number) : 1;
  if (!logitsInfo || labels > 2) throw new RuntimeError('internal', `${manifest.dir} is not a one- or two-label cross-encoder`);

  const queue = createEncoderQueue<EncoderSequence, number>(
    {
      maxBatchRequests: entry.max_batch_requests,
      maxBatchTokens: entry.max_batch_tokens,
      maxWaitMs: entry.max_wait_ms,
      maxQueuedRequests: entry.max_queued_requests,
      maxQueuedTokens: entry.max_queued_tokens,
    },
    async (pairs) => {
      const { feeds } = padEncoderBatch(backend, pairs, padId);
      const result = await backend.run(feeds);
      const logits = result[logitsInfo.name]?.data;
      if (!(logits instanceof Float32Array)) throw new RuntimeError('internal', 'unexpected logits output');
      return pairs.map((_, row) => scoreRow(logits, labels, row));
    },
  );

  return {
    queue,
    async rerank(request) {
      // Query and documents are tokenized only as far as the model reads them, cooperatively.
      const query = tokenizer.encodePrefix(request.query, manifest.maxLength);
      if (query.truncated && !entry.truncate) {
        throw new RuntimeError('context_length_exceeded', `The query is longer than the model's maximum of ${manifest.maxLength} tokens.`, { param: 'query' });
      }
      const docLimit = Math.min(request.maxTokensPerDoc ?? manifest.maxLength, manifest.maxLength);
      const pairs = await mapCooperatively(
        request.documents,
        (doc) => {
          const cut = tokenizer.encodePrefix(doc, docLimit);
          const encoded = tokenizer.encodePair(query.ids, cut.ids, manifest.maxLength, request.maxTokensPerDoc);
          // A document cut to the model's limit also overflows the pair, so encodePair reports it.
          assertFits({ ...encoded, truncated: encoded.truncated || query.truncated }, manifest.maxLength, entry.truncate, 'documents');
          return encoded;
        },
        request.signal,
      );
      const scores = await queue.submit(
        pairs.map((p) => ({ item: p, length: p.ids.length })),
        request.signal,
      );
      const ranked = scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index);
      return {
        model: entry.name,
        results: ranked.slice(0, Math.min(request.topN ?? ranked.length, ranked.length)),
        promptTokens: pairs.reduce((n, p) => n + p.ids.length, 0),
      };
    },
  };
}
