import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenizer } from '../../runtime/tokenizer.ts';
import { createRuntime, type Runtime } from '../../runtime/index.ts';
import { fixtureConfig, fixturePath } from '../helpers/fixtures.ts';

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};
const quiet = { log: () => {} };

describe('embeddings task on the tiny BERT fixture', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    runtime = createRuntime(
      fixtureConfig([
        { fixture: 'tiny-embed', task: 'embeddings', name: 'mean' },
        { fixture: 'tiny-embed', task: 'embeddings', name: 'cls', pooling: 'cls', normalize: false },
        { fixture: 'tiny-embed', task: 'embeddings', name: 'last', pooling: 'last', normalize: false },
        { fixture: 'tiny-embed', task: 'embeddings', name: 'raw-mean', normalize: false },
        { fixture: 'tiny-embed', task: 'embeddings', name: 'matryoshka', matryoshka: true },
        { fixture: 'tiny-embed', task: 'embeddings', name: 'strict', truncate: false },
        { fixture: 'tiny-embed', task: 'embeddings', name: 'one-slot', max_queued_requests: 1, max_wait_ms: 0 },
      ]),
      quiet,
    );
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  it('pools exactly like a direct onnxruntime run of the same tokens (mean, cls, last)', async () => {
    const dir = fixturePath('tiny-embed');
    const tokenizer = createTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
    const text = 'the quick brown fox jumps over the lazy dog';
    const { ids } = tokenizer.encodeSingle(text, 128);
    const session = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'));
    const t = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
    const out = await session.run({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(ids.map(() => 0)) });
    const hidden = out.last_hidden_state!.data as Float32Array;
    const dim = 32;
    const mean = new Float32Array(dim);
    for (let s = 0; s < ids.length; s++) for (let d = 0; d < dim; d++) mean[d]! += hidden[s * dim + d]! / ids.length;
    const cls = hidden.slice(0, dim);
    const last = hidden.slice((ids.length - 1) * dim, ids.length * dim);

    const [m, c, l] = await Promise.all(
      ['raw-mean', 'cls', 'last'].map((model) => runtime.embed({ model, inputs: [text] }).then((r) => r.embeddings[0]!)),
    );
    expect(maxDiff(m!, mean)).toBeLessThan(1e-6);
    expect(maxDiff(c!, cls)).toBeLessThan(1e-6);
    expect(maxDiff(l!, last)).toBeLessThan(1e-6);
    await session.release();
  });

  it('normalises to unit length when the model says so, and not otherwise', async () => {
    const [normalised] = (await runtime.embed({ model: 'mean', inputs: ['hello world'] })).embeddings;
    const [raw] = (await runtime.embed({ model: 'raw-mean', inputs: ['hello world'] })).embeddings;
    expect(norm(normalised!)).toBeCloseTo(1, 6);
    expect(Math.abs(norm(raw!) - 1)).toBeGreaterThan(1e-3);
  });

  it('gives the same vectors for a batch of mixed lengths as one at a time (within 1e-5)', async () => {
    const texts = ['a', 'hello world', 'the weather is lovely today and the sky is blue', 'paris', 'music house car road river tree book'];
    const together = await runtime.embed({ model: 'mean', inputs: texts });
    for (const [i, text] of texts.entries()) {
      const alone = await runtime.embed({ model: 'mean', inputs: [text] });
      expect(maxDiff(together.embeddings[i]!, alone.embeddings[0]!)).toBeLessThan(1e-5);
    }
    // Concurrent requests are batched too, and get their own vectors back.
    const concurrent = await Promise.all(texts.map((text) => runtime.embed({ model: 'mean', inputs: [text] })));
    concurrent.forEach((r, i) => expect(maxDiff(r.embeddings[0]!, together.embeddings[i]!)).toBeLessThan(1e-5));
  });

  it('counts prompt tokens including special tokens', async () => {
    const result = await runtime.embed({ model: 'mean', inputs: ['hello world', 'paris'] });
    expect(result.promptTokens).toBe(4 + 3); // [CLS] hello world [SEP], [CLS] paris [SEP]
  });

  it('truncates long inputs to the model maximum and counts only the tokens used', async () => {
    const long = Array.from({ length: 300 }, () => 'paris').join(' ');
    const result = await runtime.embed({ model: 'mean', inputs: [long] });
    expect(result.promptTokens).toBe(128);
    const cut = await runtime.embed({ model: 'mean', inputs: [Array.from({ length: 126 }, () => 'paris').join(' ')] });
    expect(maxDiff(result.embeddings[0]!, cut.embeddings[0]!)).toBeLessThan(1e-6);
  });

  it('refuses long inputs when truncation is switched off', async () => {
    const long = Array.from({ length: 300 }, () => 'paris').join(' ');
    await expect(runtime.embed({ model: 'strict', inputs: [long] })).rejects.toMatchObject({ kind: 'context_length_exceeded', param: 'input' });
    await expect(runtime.embed({ model: 'strict', inputs: [Array(300).fill(7)] })).rejects.toMatchObject({ kind: 'context_length_exceeded' });
  });

  it('embeds token ids as given', async () => {
    const fromText = await runtime.embed({ model: 'mean', inputs: ['hello world'] });
    const dir = fixturePath('tiny-embed');
    const tokenizer = createTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), {});
    const ids = tokenizer.encodeSingle('hello world', 128).ids;
    const fromIds = await runtime.embed({ model: 'mean', inputs: [ids] });
    expect(maxDiff(fromIds.embeddings[0]!, fromText.embeddings[0]!)).toBeLessThan(1e-6);
    await expect(runtime.embed({ model: 'mean', inputs: [[1, 99999]] })).rejects.toMatchObject({ kind: 'invalid_request', param: 'input' });
  });

  it('cuts Matryoshka models to `dimensions` and renormalises; refuses others', async () => {
    const full = (await runtime.embed({ model: 'matryoshka', inputs: ['hello'] })).embeddings[0]!;
    const cut = (await runtime.embed({ model: 'matryoshka', inputs: ['hello'], dimensions: 8 })).embeddings[0]!;
    expect(cut.length).toBe(8);
    expect(norm(cut)).toBeCloseTo(1, 6);
    const prefixNorm = norm(full.slice(0, 8));
    expect(maxDiff(cut, full.slice(0, 8).map((x) => x / prefixNorm))).toBeLessThan(1e-6);
    expect((await runtime.embed({ model: 'mean', inputs: ['x'], dimensions: 32 })).embeddings[0]!.length).toBe(32);
    await expect(runtime.embed({ model: 'mean', inputs: ['x'], dimensions: 8 })).rejects.toMatchObject({ kind: 'invalid_request', param: 'dimensions' });
    await expect(runtime.embed({ model: 'matryoshka', inputs: ['x'], dimensions: 64 })).rejects.toMatchObject({ kind: 'invalid_request', param: 'dimensions' });
  });

  it('stops work for a request whose caller has gone', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(runtime.embed({ model: 'mean', inputs: ['x'], signal: controller.signal })).rejects.toMatchObject({ kind: 'cancelled' });
  });

  it('answers queue_full at once past max_queued_requests and completes what it accepted', async () => {
    const calls = [0, 1, 2, 3, 4].map(() => runtime.embed({ model: 'one-slot', inputs: ['hello'] }).then(() => 'ok', (e: { kind: string }) => e.kind));
    const outcomes = await Promise.all(calls);
    // Two batches go to the engine at once, the third request waits in the one slot, the rest are refused.
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'queue_full', 'queue_full']);
  });

  it('answers model_not_found and wrong_task', async () => {
    await expect(runtime.embed({ model: 'nope', inputs: ['x'] })).rejects.toMatchObject({ kind: 'model_not_found', param: 'model' });
    await expect(runtime.rerank({ model: 'mean', query: 'q', documents: ['d'] })).rejects.toMatchObject({ kind: 'wrong_task' });
  });
});
