// Cohere rerank (v1 and v2) wire shapes and their pure translation to and from the runtime.
import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import type { RerankRequest, RerankResult } from '../../runtime/index.ts';
import { invalidRequest } from '../shared/errors.ts';
import { integerBetween, notArray, wireObject } from '../shared/schemas.ts';

const MAX_DOCUMENTS = 10_000;
const positiveInt = integerBetween(1);
/**
 * v1 object documents: `{text, ...}` or any fields named by rank_fields; kept exactly as sent for
 * return_documents (a valibot record would drop keys such as `__proto__`).
 */
const DocumentSchema = v.union([v.string(), notArray], 'documents must be strings or objects');

// One lenient schema for v1, v2 and the pre-2024-11 v2 (return_documents, rank_fields, object documents).
// `model` is optional in Cohere v1 only; the handler requires it on v2 paths.
export const RerankRequestSchema = wireObject({
  model: v.optional(v.string()),
  query: v.pipe(v.string(), v.minLength(1, 'query must not be empty')),
  documents: v.pipe(
    v.array(DocumentSchema),
    v.minLength(1, 'documents must not be empty'),
    v.maxLength(MAX_DOCUMENTS, `at most ${MAX_DOCUMENTS} documents per request`),
  ),
  top_n: v.optional(positiveInt),
  return_documents: v.optional(v.boolean(), false),
  rank_fields: v.optional(v.pipe(v.array(v.string()), v.minLength(1))),
  max_tokens_per_doc: v.optional(positiveInt),
});

export type RerankWireRequest = v.InferOutput<typeof RerankRequestSchema>;
export type RerankDocument = RerankWireRequest['documents'][number];

/**
 * The text scored for one document: the string, or its rank_fields (default `text`) joined by
 * lines. Only the document's own fields count (never inherited ones like `constructor`), and
 * each must be a string or a number.
 */
export function documentText(doc: RerankDocument, index: number, rankFields: readonly string[] = ['text']): string {
  if (typeof doc === 'string') return doc;
  const present = rankFields.filter((f) => Object.hasOwn(doc, f) && doc[f] !== undefined && doc[f] !== null);
  const parts = present.map((f) => {
    const value = doc[f];
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw invalidRequest(`documents[${index}].${f} must be a string to be ranked.`, `documents[${index}].${f}`);
    }
    return rankFields.length === 1 ? String(value) : `${f}: ${String(value)}`;
  });
  if (parts.length === 0) throw invalidRequest(`documents[${index}] has none of the fields ${rankFields.join(', ')}.`, `documents[${index}]`);
  return parts.join('\n');
}

export function fromWire(body: RerankWireRequest, model: string, signal: AbortSignal): RerankRequest {
  return {
    model,
    query: body.query,
    documents: body.documents.map((d, i) => documentText(d, i, body.rank_fields)),
    topN: body.top_n,
    maxTokensPerDoc: body.max_tokens_per_doc,
    signal,
  };
}

export function toWire(result: RerankResult, body: RerankWireRequest, apiVersion: '1' | '2') {
  return {
    id: randomUUID(),
    results: result.results.map(({ index, score }) => {
      const doc = body.documents[index] as RerankDocument;
      return {
        index,
        relevance_score: score,
        ...(body.return_documents ? { document: typeof doc === 'string' ? { text: doc } : doc } : {}),
      };
    }),
    meta: { api_version: { version: apiVersion }, billed_units: { search_units: 1 } },
  };
}
