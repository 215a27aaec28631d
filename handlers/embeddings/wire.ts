// OpenAI /v1/embeddings wire shapes and their pure translation to and from the runtime.
import * as v from 'valibot';
import { wireObject, integerBetween } from '../shared/schemas.ts';
import type { EmbedRequest, EmbedResult } from '../../runtime/index.ts';

const MAX_INPUTS = 2048;
const tokenId = integerBetween(0, 2 ** 31 - 1);
const text = v.pipe(v.string(), v.minLength(1, 'empty strings cannot be embedded'));
const tokens = v.pipe(v.array(tokenId), v.minLength(1, 'token arrays must not be empty'));

export const EmbeddingsRequestSchema = wireObject({
  model: v.string(),
  input: v.union(
    [
      text,
      v.pipe(v.array(text), v.minLength(1, 'input must not be empty'), v.maxLength(MAX_INPUTS, `at most ${MAX_INPUTS} inputs per request`)),
      tokens,
      v.pipe(v.array(tokens), v.minLength(1, 'input must not be empty'), v.maxLength(MAX_INPUTS, `at most ${MAX_INPUTS} inputs per request`)),
    ],
    'input must be a non-empty string, array of strings, array of token ids, or array of token id arrays',
  ),
  encoding_format: v.optional(v.picklist(['float', 'base64']), 'float'),
  dimensions: v.optional(integerBetween(1, 65536)),
  user: v.optional(v.string()),
});

export type EmbeddingsRequest = v.InferOutput<typeof EmbeddingsRequestSchema>;

export function fromWire(body: EmbeddingsRequest, signal: AbortSignal): EmbedRequest {
  const { input } = body;
  let inputs: Array<string | number[]>;
  if (typeof input === 'string') inputs = [input];
  else if (typeof input[0] === 'number') inputs = [input as number[]];
  else inputs = input as Array<string | number[]>;
  return { model: body.model, inputs, dimensions: body.dimensions, signal };
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian float32 bytes, standard base64: what openai-node's decoder expects. */
export function toBase64(vector: Float32Array): string {
  if (littleEndian) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
  const view = new DataView(new ArrayBuffer(vector.length * 4));
  vector.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return Buffer.from(view.buffer).toString('base64');
}

export function toWire(result: EmbedResult, format: 'float' | 'base64') {
  return {
    object: 'list' as const,
    data: result.embeddings.map((vector, index) => ({
      object: 'embedding' as const,
      index,
      embedding: format === 'base64' ? toBase64(vector) : Array.from(vector),
    })),
    model: result.model,
    usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
  };
}
