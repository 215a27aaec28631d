// Grammar-constrained sequences in continuous batches: the same tokens alone and among
// unconstrained neighbours, and the grammar's end is the sequence's end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type GenerateRequest, type Runtime } from '../../runtime/index.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 10 }, n: { type: 'integer', minimum: 0, maximum: 999 }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 } }, required: ['name', 'n', 'tags'] };

describe('constrained decoding in continuous batches', () => {
  let runtime: Runtime;
  beforeAll(async () => {
    runtime = createRuntime(fixtureConfig([{ fixture: 'tiny-chat', task: 'text-generation', name: 'chat' }]), { log: () => {} });
    await runtime.ready;
  });
  afterAll(() => runtime.close());

  const constrained: GenerateRequest = { model: 'chat', prompts: [{ messages: [{ role: 'user', content: 'A record, please.' }] }], n: 1, maxTokens: 80, outputFormat: { type: 'json_schema', schema } };
  const noise = (i: number) => collect(runtime.generate({ model: 'chat', prompts: [{ text: `noise ${i} and more words` }], n: 1, maxTokens: 40, temperature: 1, seed: i }));

  it.each([
    ['greedy', { temperature: 0 }],
    ['seeded sampling', { temperature: 1, seed: 42 }],
  ])('a constrained %s request gives the same tokens alone and among 7 unconstrained ones', async (_, sampling) => {
    const alone = await collect(runtime.generate({ ...constrained, ...sampling }));
    expect(alone.finish[0]).toBe('stop');
    expect(JSON.parse(alone.text[0] ?? '')).toMatchObject({ n: expect.any(Number) });
    const [together] = await Promise.all([collect(runtime.generate({ ...constrained, ...sampling })), ...Array.from({ length: 7 }, (_, i) => noise(i))]);
    expect(together!.ids[0]).toEqual(alone.ids[0]);
    // The neighbours were free text: the grammar did not leak into them.
    const free = await noise(3);
    expect(() => JSON.parse(free.text[0] ?? '')).toThrow();
  });

  it('the grammar ends the sequence at its stop token, even with ignore_eos', async () => {
    const out = await collect(runtime.generate({ ...constrained, temperature: 0, ignoreEos: true, maxTokens: 200 }));
    expect(out.finish[0]).toBe('stop');
    expect(out.ids[0]!.length).toBeLessThan(200);
    expect(JSON.parse(out.text[0] ?? '')).toBeTypeOf('object');
  });

  it('a forced tool call is written compactly: no free whitespace inside its arguments', async () => {
    const tools = [{ name: 'set', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 9 }, b: { enum: ['x', 'y'] } }, required: ['a', 'b'] } }];
    for (const seed of [1, 2, 3, 4]) {
      const out = await collect(runtime.generate({ ...constrained, outputFormat: undefined, tools, toolChoice: 'required', parallelToolCalls: false, temperature: 1, seed }));
      expect(out.finish[0]).toBe('tool_calls');
      const raw = await runtime.detokenize({ model: 'chat', ids: out.ids[0] as number[] });
      expect(raw).toMatch(/^<tool_call>\n\{"name": "set", "arguments": \{"a": \d, "b": "[xy]"\}\}\n<\/tool_call>(<\|im_end\|>)?$/);
    }
  });
});
