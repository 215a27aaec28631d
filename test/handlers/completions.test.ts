import { describe, expect, it } from 'vitest';
import { createApp } from '../../handlers/app.ts';
import { createFakeRuntime, postJson, readJson } from '../helpers/fake-runtime.ts';
import { readSse } from '../helpers/sse.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

function setup() {
  const runtime = createFakeRuntime([{ name: 'lm', task: 'text-generation' }]);
  return { runtime, app: createApp(runtime) };
}

describe('POST /v3/completions', () => {
  it('answers a unary CreateCompletionResponse with max_tokens 16 by default', async () => {
    const { app, runtime } = setup();
    for (const path of ['/v3/completions', '/v1/completions']) {
      const body = await readJson(postJson(app, path, { model: 'lm', prompt: 'Say' }));
      expect(body).toMatchObject({ object: 'text_completion', choices: [{ text: 'Hello', index: 0, logprobs: null, finish_reason: 'length' }], usage: { total_tokens: 9 } });
      expect(body.id).toMatch(/^cmpl-/);
      if (specsAvailable) expect(specErrors('openai', 'CreateCompletionResponse', body)).toEqual([]);
    }
    expect(runtime.calls.generate[0]).toMatchObject({ prompts: [{ text: 'Say' }], maxTokens: 16, echo: false });
  });

  it('accepts every prompt shape, each prompt x n getting its own index', async () => {
    const { app, runtime } = setup();
    await postJson(app, '/v3/completions', { model: 'lm', prompt: [1, 2, 3] });
    await postJson(app, '/v3/completions', { model: 'lm', prompt: [[1, 2], [3]] });
    const body = await readJson(postJson(app, '/v3/completions', { model: 'lm', prompt: ['a', 'b'], n: 2 }));
    expect(runtime.calls.generate.map((g) => g.prompts)).toEqual([[{ tokens: [1, 2, 3] }], [{ tokens: [1, 2] }, { tokens: [3] }], [{ text: 'a' }, { text: 'b' }]]);
    expect(body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2, 3]);
  });

  it('streams chunks of the unary shape, a finish chunk, usage when asked, then [DONE]', async () => {
    const { app } = setup();
    const sse = await readSse(await postJson(app, '/v3/completions', { model: 'lm', prompt: 'Say', stream: true, stream_options: { include_usage: true } }));
    expect(sse.done).toBe(true);
    expect(sse.frames.slice(0, -1).map((f) => f.choices[0].text)).toEqual(['Hel', 'lo', '']);
    expect(sse.frames.slice(0, -1).map((f) => f.choices[0].finish_reason)).toEqual([null, null, 'length']);
    expect(sse.frames.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
    // With include_usage every chunk before the usage chunk carries usage: null (as chat does).
    for (const f of sse.frames.slice(0, -1)) expect(f).toHaveProperty('usage', null);
    for (const f of sse.frames) {
      expect(f.object).toBe('text_completion');
      if (!specsAvailable) continue;
      // The schema describes the unary object; mid-stream chunks carry finish_reason null and
      // usage null, as OpenAI sends (WIRE.md sections 1-2). Those are the only differences allowed.
      const errors = specErrors('openai', 'CreateCompletionResponse', f);
      const allowed = (e: string) => e.startsWith('/choices/0/finish_reason') || e.startsWith('/usage');
      if (f.usage === null) expect(errors.filter((e) => !allowed(e))).toEqual([]);
      else expect(errors).toEqual([]);
    }
  });

  it('passes logprobs, echo and best_of, and answers the legacy logprobs shape', async () => {
    const { app, runtime } = setup();
    runtime.onGenerate = () => [
      { type: 'delta', index: 0, text: 'ab', tokenIds: [1, 2], tokens: [
        { token: 'a', bytes: [97], logprob: -0.5, top: [{ token: 'a', bytes: [97], logprob: -0.5 }] },
        { token: 'b', bytes: [98], logprob: -1, top: [{ token: 'c', bytes: [99], logprob: -0.2 }] },
      ] },
      { type: 'finish', index: 0, reason: 'stop' },
    ];
    const body = await readJson(postJson(app, '/v3/completions', { model: 'lm', prompt: 'x', logprobs: 1, echo: true, best_of: 2 }));
    expect(runtime.calls.generate[0]).toMatchObject({ logprobs: 1, echo: true, bestOf: 2 });
    expect(body.choices[0].logprobs).toEqual({ tokens: ['a', 'b'], token_logprobs: [-0.5, -1], top_logprobs: [{ a: -0.5 }, { c: -0.2 }], text_offset: [0, 1] });
    if (specsAvailable) expect(specErrors('openai', 'CreateCompletionResponse', body)).toEqual([]);
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['missing prompt', { model: 'lm' }, 'prompt'],
    ['empty token prompt', { model: 'lm', prompt: [] }, 'prompt'],
    ['logprobs above 5', { model: 'lm', prompt: 'x', logprobs: 6 }, 'logprobs'],
    ['best_of below n', { model: 'lm', prompt: 'x', n: 3, best_of: 2 }, 'best_of'],
    ['streamed best_of', { model: 'lm', prompt: 'x', best_of: 2, stream: true }, 'best_of'],
    ['suffix', { model: 'lm', prompt: 'x', suffix: 'y' }, 'suffix'],
    ['zero max_tokens', { model: 'lm', prompt: 'x', max_tokens: 0 }, 'max_tokens'],
  ];
  it.each(bad)('400 naming the parameter for %s', async (_, body, param) => {
    const { app, runtime } = setup();
    const res = await postJson(app, '/v3/completions', body);
    expect(res.status).toBe(400);
    expect((await readJson(res)).error.param).toBe(param);
    expect(runtime.calls.generate).toHaveLength(0);
  });
});
