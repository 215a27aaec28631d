// Greedy generation must give the same token ids as transformers.js model.generate, alone and
// inside a batch of 8 concurrent requests; and the REFERENCE.json ids with the real SmolLM2
// tokenizer and chat template. Both decoder forms are held to it: the fused graph with the KV
// cache the runtime owns (the default), and the graph as exported (fuse: false).
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, parseConfig, type Generation, type Runtime } from '../../runtime/index.ts';
import { copyFixture, fixtureConfig, fixturesDir } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';
import { SHARED_MODELS_DIR, sharedModelsAvailable } from '../helpers/paths.ts';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const PROMPTS = [
  'The capital of France is',
  'Hello',
  'What is the weather like today in Paris and in Berlin?',
  'a b c',
  'The quick brown fox',
  'one two three four five six seven eight nine ten eleven twelve',
  'I think',
  'Write a short answer to the question.',
];
const NEW_TOKENS = 24;

/** Four requests join while a long one decodes: every one still gets its expected ids. */
async function expectSameWhenJoining(greedy: (prompt: string) => Promise<Generation>, expected: number[][]) {
  const first = collect(greedy(PROMPTS[5]!));
  await new Promise((r) => setTimeout(r, 5));
  const later = await Promise.all(PROMPTS.slice(0, 4).map((p) => collect(greedy(p))));
  later.forEach((r, i) => expect(r.ids[0]).toEqual(expected[i]));
  expect((await first).ids[0]).toEqual(expected[5]);
}

describe.each([
  { form: 'fused, runtime-owned KV cache', fuse: true },
  { form: 'as exported (Optimum past/present)', fuse: false },
])('greedy parity with transformers.js on the project-built Llama fixture: $form', ({ fuse }) => {
  let runtime: Runtime;
  const expected: number[][] = [];

  beforeAll(async () => {
    env.localModelPath = `${fixturesDir()}/`;
    const tokenizer = await AutoTokenizer.from_pretrained('tiny-chat');
    const model = await AutoModelForCausalLM.from_pretrained('tiny-chat', { dtype: 'fp32' });
    for (const prompt of PROMPTS) {
      const inputs = tokenizer(prompt);
      const output = await model.generate({ ...inputs, max_new_tokens: NEW_TOKENS, do_sample: false });
      expected.push(Array.from((output as { data: BigInt64Array }).data, Number).slice(inputs.input_ids.dims[1]));
    }
    await model.dispose();
    runtime = createRuntime(fixtureConfig([{ fixture: 'tiny-chat', task: 'text-generation', fuse }]), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const greedy = (prompt: string) => runtime.generate({ model: 'tiny-chat', prompts: [{ text: prompt }], n: 1, maxTokens: NEW_TOKENS, temperature: 0 });

  it('gives the same token ids for each prompt alone', async () => {
    for (const [i, prompt] of PROMPTS.entries()) expect((await collect(greedy(prompt))).ids[0]).toEqual(expected[i]);
  });

  it('gives the same token ids inside a batch of 8 concurrent requests', async () => {
    const before = runtime.generationStats('tiny-chat').largestDecodeBatch;
    const results = await Promise.all(PROMPTS.map((p) => collect(greedy(p))));
    results.forEach((r, i) => expect(r.ids[0]).toEqual(expected[i]));
    expect(runtime.generationStats('tiny-chat').largestDecodeBatch).toBe(Math.max(before, 8));
  });

  it('gives the same token ids when requests join a batch already decoding', () => expectSameWhenJoining(greedy, expected));
});

describe.each(['int8', 'q4'] as const)('quantize %s: the same greedy ids alone, in a batch of 8 and when joining', (quantize) => {
  // Quantized weights change the tokens, not their batch invariance: activations are quantized
  // per row, so no sequence's result depends on its batch-mates.
  let runtime: Runtime;
  const alone: number[][] = [];
  const dir = mkdtempSync(join(tmpdir(), `ovserve-${quantize}-invariance-`));
  beforeAll(async () => {
    copyFixture('tiny-chat', join(dir, 'chat'));
    runtime = createRuntime(parseConfig({ models: [{ name: 'm', task: 'text-generation', path: 'chat', quantize }] }, dir), { log: () => {} });
    await runtime.ready;
    for (const prompt of PROMPTS) alone.push((await collect(runtime.generate({ model: 'm', prompts: [{ text: prompt }], n: 1, maxTokens: NEW_TOKENS, temperature: 0 }))).ids[0]!);
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const greedy = (prompt: string) => runtime.generate({ model: 'm', prompts: [{ text: prompt }], n: 1, maxTokens: NEW_TOKENS, temperature: 0 });

  it('in a batch of 8 concurrent requests', async () => {
    const results = await Promise.all(PROMPTS.map((p) => collect(greedy(p))));
    results.forEach((r, i) => expect(r.ids[0]).toEqual(alone[i]));
  });

  it('when requests join a batch already decoding', () => expectSameWhenJoining(greedy, alone));
});

type ChatReference = {
  models: {
    chat: {
      chat: { messages: Array<{ role: string; content: string }>; prompt_input_ids: number[]; generated_token_ids: number[]; generated_text: string };
      completion: { prompt: string; prompt_input_ids: number[]; generated_token_ids: number[] };
    };
  };
};

describe.runIf(sharedModelsAvailable)('parity with ../shared/models REFERENCE.json (real SmolLM2 tokenizer and template)', () => {
  let runtime: Runtime;
  let ref: ChatReference['models']['chat'];
  // A copy, so the fused rewrite's cache is written beside it and never into ../shared.
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-shared-smol-'));
  beforeAll(async () => {
    ref = (JSON.parse(readFileSync(join(SHARED_MODELS_DIR, 'REFERENCE.json'), 'utf8')) as ChatReference).models.chat;
    cpSync(join(SHARED_MODELS_DIR, 'tiny-random-smollm2'), join(dir, 'smol'), { recursive: true });
    runtime = createRuntime(parseConfig({ models: [{ name: 'smol', task: 'text-generation', path: 'smol' }] }, dir), { log: () => {} });
    await runtime.ready;
  });
  afterAll(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders the chat template and generates the reference ids (30 greedy tokens)', async () => {
    const g = await runtime.generate({ model: 'smol', prompts: [{ messages: ref.chat.messages }], n: 1, maxTokens: 30, temperature: 0 });
    expect(g.promptTokens).toBe(ref.chat.prompt_input_ids.length);
    const out = await collect(g);
    expect(out.ids[0]).toEqual(ref.chat.generated_token_ids);
    expect(out.text[0]).toBe(ref.chat.generated_text);
    expect(out.finish[0]).toBe('length');
  });

  it('tokenizes the completion prompt and generates the reference ids, also batched', async () => {
    const run = () => runtime.generate({ model: 'smol', prompts: [{ text: ref.completion.prompt }], n: 1, maxTokens: 10, temperature: 0 });
    const alone = await collect(run());
    expect(alone.ids[0]).toEqual(ref.completion.generated_token_ids);
    const batch = await Promise.all(Array.from({ length: 8 }, () => collect(run())));
    for (const r of batch) expect(r.ids[0]).toEqual(ref.completion.generated_token_ids);
    // The chat prompt's reference ids, given as tokens, continue the same way.
    const fromIds = await collect(runtime.generate({ model: 'smol', prompts: [{ tokens: ref.chat.prompt_input_ids }], n: 1, maxTokens: 30, temperature: 0 }));
    expect(fromIds.ids[0]).toEqual(ref.chat.generated_token_ids);
  });
});
