// Parity with an independent implementation: transformers.js on the same model folders, and the
// transformers.js reference outputs recorded in ../shared/models/REFERENCE.json.
import { AutoModelForSequenceClassification, AutoTokenizer, env, pipeline } from '@huggingface/transformers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, parseConfig, type Runtime } from '../../runtime/index.ts';
import { createTokenizer } from '../../runtime/tokenizer.ts';
import { fixtureConfig, fixturesDir } from '../helpers/fixtures.ts';
import { SHARED_MODELS_DIR, sharedModelsAvailable } from '../helpers/paths.ts';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return dot / Math.sqrt(na * nb);
};
const logit = (p: number) => Math.log(p / (1 - p));

const sentences = ['hello world', 'The weather is lovely today.', "It's so sunny outside!", 'He drove to the stadium.', 'a'];
const query = 'What is the capital of France?';
const documents = ['Paris is the capital of France.', 'Berlin is in Germany.', 'The sky is blue.', 'quick brown fox jumps'];

describe('parity with transformers.js on the project-built fixtures', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    env.localModelPath = `${fixturesDir()}/`;
    runtime = createRuntime(fixtureConfig([
      { fixture: 'tiny-embed', task: 'embeddings' },
      { fixture: 'tiny-rerank', task: 'rerank' },
    ]), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  it('embeddings: cosine >= 0.99999 against the feature-extraction pipeline (mean, normalize)', async () => {
    const extractor = await pipeline('feature-extraction', 'tiny-embed', { dtype: 'fp32' });
    const expected = (await extractor(sentences, { pooling: 'mean', normalize: true })).tolist() as number[][];
    const { embeddings } = await runtime.embed({ model: 'tiny-embed', inputs: sentences });
    embeddings.forEach((v, i) => expect(cosine(v, expected[i]!)).toBeGreaterThanOrEqual(0.99999));
    await extractor.dispose();
  });

  it('rerank: the same logits within 1e-4 as AutoModelForSequenceClassification', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained('tiny-rerank');
    const model = await AutoModelForSequenceClassification.from_pretrained('tiny-rerank', { dtype: 'fp32' });
    const inputs = tokenizer(new Array(documents.length).fill(query), { text_pair: documents, padding: true, truncation: true });
    const expected = Array.from((await model(inputs)).logits.data as Float32Array);
    const { results } = await runtime.rerank({ model: 'tiny-rerank', query, documents });
    for (const { index, score } of results) expect(Math.abs(logit(score) - expected[index]!)).toBeLessThan(1e-4);
    await model.dispose();
  });
});

type Reference = {
  models: {
    embedding: { inputs: string[]; embeddings: number[][]; tokenized: { input_ids: number[][] } };
    reranker: { query: string; documents: string[]; raw_logits: number[]; tokenized: { input_ids: number[][]; token_type_ids: number[][] } };
  };
};

describe.runIf(sharedModelsAvailable)('parity with ../shared/models/REFERENCE.json (real tokenizers)', () => {
  let runtime: Runtime;
  let ref: Reference;
  beforeAll(async () => {
    ref = JSON.parse(readFileSync(join(SHARED_MODELS_DIR, 'REFERENCE.json'), 'utf8')) as Reference;
    runtime = createRuntime(parseConfig({
      models: [
        { name: 'minilm', task: 'embeddings', path: 'tiny-random-minilm-embed' },
        { name: 'msmarco', task: 'rerank', path: 'tiny-random-msmarco-rerank' },
      ],
    }, SHARED_MODELS_DIR), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const tokenizerOf = (folder: string) => {
    const dir = join(SHARED_MODELS_DIR, folder);
    return createTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
  };

  it('tokenizes the all-MiniLM-L6-v2 inputs to the reference ids', () => {
    const tokenizer = tokenizerOf('tiny-random-minilm-embed');
    ref.models.embedding.inputs.forEach((text, i) => {
      const padded = ref.models.embedding.tokenized.input_ids[i]!;
      const expected = padded.slice(0, padded.lastIndexOf(102) + 1);
      expect(tokenizer.encodeSingle(text, 512).ids).toEqual(expected);
    });
  });

  it('encodes ms-marco pairs to the reference ids and token types', () => {
    const tokenizer = tokenizerOf('tiny-random-msmarco-rerank');
    const { query: q, documents: docs, tokenized } = ref.models.reranker;
    docs.forEach((doc, i) => {
      const encoded = tokenizer.encodePair(tokenizer.encodeRaw(q), tokenizer.encodeRaw(doc), 512);
      const n = encoded.ids.length;
      expect(encoded.ids).toEqual(tokenized.input_ids[i]!.slice(0, n));
      expect(encoded.typeIds).toEqual(tokenized.token_type_ids[i]!.slice(0, n));
    });
  });

  it('reproduces the reference embeddings (cosine >= 0.99999)', async () => {
    const { embeddings } = await runtime.embed({ model: 'minilm', inputs: ref.models.embedding.inputs });
    embeddings.forEach((v, i) => expect(cosine(v, ref.models.embedding.embeddings[i]!)).toBeGreaterThanOrEqual(0.99999));
  });

  it('reproduces the reference rerank logits (within 1e-4)', async () => {
    const { query: q, documents: docs, raw_logits } = ref.models.reranker;
    const { results } = await runtime.rerank({ model: 'msmarco', query: q, documents: docs });
    for (const { index, score } of results) expect(Math.abs(logit(score) - raw_logits[index]!)).toBeLessThan(1e-4);
  });
});
