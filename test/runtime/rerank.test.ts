import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../runtime/index.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';

describe('rerank task on the tiny cross-encoder fixture', () => {
  let runtime: Runtime;
  const query = 'what is the capital of france';
  const documents = ['paris is the capital of france', 'berlin is in germany', 'the sky is blue', 'music house car', 'quick brown fox'];

  beforeAll(async () => {
    runtime = createRuntime(fixtureConfig([
      { fixture: 'tiny-rerank', task: 'rerank', name: 'rr' },
      { fixture: 'tiny-rerank', task: 'rerank', name: 'strict', truncate: false },
    ]), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  it('returns every document best first, with its original index and a score in (0, 1)', async () => {
    const { results } = await runtime.rerank({ model: 'rr', query, documents });
    expect(results.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4]);
    for (let i = 1; i < results.length; i++) expect(results[i - 1]!.score).toBeGreaterThanOrEqual(results[i]!.score);
    for (const r of results) expect(r.score).toBeGreaterThan(0), expect(r.score).toBeLessThan(1);
  });

  it('scores each pair the same alone as in a batch', async () => {
    const together = await runtime.rerank({ model: 'rr', query, documents });
    for (const [i, doc] of documents.entries()) {
      const alone = await runtime.rerank({ model: 'rr', query, documents: [doc] });
      expect(alone.results[0]!.score).toBeCloseTo(together.results.find((r) => r.index === i)!.score, 6);
    }
  });

  it('keeps the top_n best, clamped to the number of documents', async () => {
    const all = await runtime.rerank({ model: 'rr', query, documents });
    const top2 = await runtime.rerank({ model: 'rr', query, documents, topN: 2 });
    expect(top2.results).toEqual(all.results.slice(0, 2));
    expect((await runtime.rerank({ model: 'rr', query, documents, topN: 50 })).results).toHaveLength(5);
  });

  it('cuts documents to maxTokensPerDoc', async () => {
    const long = 'paris is the capital of france and the weather is lovely today';
    const cut = await runtime.rerank({ model: 'rr', query, documents: [long], maxTokensPerDoc: 3 });
    const short = await runtime.rerank({ model: 'rr', query, documents: ['paris is the'] });
    expect(cut.results[0]!.score).toBeCloseTo(short.results[0]!.score, 6);
    expect(cut.promptTokens).toBe(short.promptTokens);
  });

  it('truncates pairs longer than the model, or refuses them when told to', async () => {
    const long = Array.from({ length: 200 }, () => 'paris').join(' ');
    const result = await runtime.rerank({ model: 'rr', query, documents: [long] });
    expect(result.promptTokens).toBe(128);
    await expect(runtime.rerank({ model: 'strict', query, documents: [long] })).rejects.toMatchObject({ kind: 'context_length_exceeded' });
  });
});
