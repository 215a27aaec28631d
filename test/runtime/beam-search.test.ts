// Beam search through the runtime on the tiny Llama fixture: with the vocabulary cut to four
// tokens (logit_bias) and a width that covers every prefix, the top beam is the best of an
// exhaustive search computed here straight from the decoder session; beams fork through the
// session; results are deterministic and ranked; what does not combine with beams is a 400.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logSoftmax } from '../../runtime/generation/beam-scores.ts';
import { createRuntime, type GenerateRequest, type Runtime } from '../../runtime/index.ts';
import { preparedModelFile } from '../../runtime/onnx/prepare.ts';
import { openDecoder, type OpenedDecoder } from '../helpers/decoder-sessions.ts';
import { copyFixture, fixtureConfig } from '../helpers/fixtures.ts';
import { collect } from '../helpers/generation.ts';

const PROMPT = [5, 77, 301, 9, 1200, 44, 8, 19, 300, 301];
const ALLOWED = [100, 200, 300, 400];
const LENGTH = 3;

describe('beam search', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-beams-'));
  let runtime: Runtime;
  let decoder: OpenedDecoder;
  let vocab: number;
  beforeAll(async () => {
    runtime = createRuntime(
      fixtureConfig([
        { fixture: 'tiny-chat', task: 'text-generation', name: 'chat', max_running_sequences: 16 },
        // The graph as exported: a left-padded past/present cache, no extend, no prefix cache.
        { fixture: 'tiny-chat', task: 'text-generation', name: 'exported', fuse: false, max_running_sequences: 16 },
      ]),
      { log: () => {} },
    );
    await runtime.ready;
    const modelDir = join(dir, 'chat');
    copyFixture('tiny-chat', modelDir);
    const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    vocab = Number(config.vocab_size);
    decoder = await openDecoder(modelDir, await preparedModelFile(join(modelDir, 'onnx', 'model.onnx'), { quantize: 'none', fuse: config, decoder: true, log: () => {} }));
  });
  afterAll(async () => {
    await runtime.close();
    await decoder.backend.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every token but the allowed ones biased away: a four-token vocabulary. */
  const bias = () => Object.fromEntries(Array.from({ length: vocab }, (_, id) => id).filter((id) => !ALLOWED.includes(id)).map((id) => [id, -100]));
  const beams = (extra: Partial<GenerateRequest> & { width: number; lengthPenalty?: number; earlyStopping?: boolean }) => {
    const { width, lengthPenalty = 1, earlyStopping = false, ...rest } = extra;
    return runtime.generate({ model: 'chat', prompts: [{ tokens: PROMPT }], n: 1, maxTokens: LENGTH, ignoreEos: true, beamSearch: { width, lengthPenalty, earlyStopping }, ...rest });
  };

  /** Every sequence of LENGTH allowed tokens, scored from the session's logits with the same bias. */
  async function exhaustive(): Promise<Array<{ tokens: number[]; logprob: number }>> {
    const all: number[][] = [[]];
    for (let l = 0; l < LENGTH; l++) all.splice(0, all.length, ...all.flatMap((s) => ALLOWED.map((t) => [...s, t])));
    const scored = [];
    for (const tokens of all) {
      const logits = await decoder.session.prefill([[...PROMPT, ...tokens.slice(0, -1)]], [true]);
      let logprob = 0;
      tokens.forEach((token, i) => {
        const row = logits.at(0, PROMPT.length - 1 + i).slice();
        for (let id = 0; id < vocab; id++) if (!ALLOWED.includes(id)) row[id] = (row[id] as number) - 100;
        logprob += logSoftmax(row)[token] as number;
      });
      decoder.session.reset();
      scored.push({ tokens, logprob });
    }
    return scored.sort((a, b) => b.logprob - a.logprob);
  }

  it('with a width covering every prefix, the top beams are the best of an exhaustive search', async () => {
    const reference = await exhaustive();
    const out = await collect(beams({ width: ALLOWED.length ** (LENGTH - 1), n: 4, logitBias: bias() }));
    expect(out.ids).toEqual(reference.slice(0, 4).map((r) => r.tokens));
    expect(out.finish).toEqual(['length', 'length', 'length', 'length']);
    expect(runtime.generationStats('chat').largestDecodeBatch).toBe(16);
  });

  it('is deterministic, alone and beside other sequences, and width 1 is greedy', async () => {
    const alone = await collect(beams({ width: 4, n: 2, maxTokens: 10 }));
    const others = Array.from({ length: 3 }, (_, i) => collect(runtime.generate({ model: 'chat', prompts: [{ tokens: [7, 8, 9, i] }], n: 1, maxTokens: 12, temperature: 1, seed: i })));
    const [together] = await Promise.all([collect(beams({ width: 4, n: 2, maxTokens: 10 })), ...others]);
    expect(together!.ids).toEqual(alone.ids);
    const greedy = await collect(runtime.generate({ model: 'chat', prompts: [{ tokens: PROMPT }], n: 1, maxTokens: 10, ignoreEos: true, temperature: 0 }));
    expect((await collect(beams({ width: 1, maxTokens: 10 }))).ids).toEqual(greedy.ids);
  });

  it('gives the same beams on the graph as exported (a session that forks by copying its batched cache)', async () => {
    const fused = await collect(beams({ width: 4, n: 4, maxTokens: 8 }));
    const exported = await collect(beams({ width: 4, n: 4, maxTokens: 8, model: 'exported' }));
    expect(exported.ids).toEqual(fused.ids);
  });

  it('returns n hypotheses, text and tokens; usage counts them', async () => {
    const generation = await beams({ width: 3, n: 3, maxTokens: 6 });
    const out = await collect(generation);
    expect(out.ids).toHaveLength(3);
    expect(new Set(out.ids.map((ids) => ids.join(','))).size).toBe(3);
    for (const text of out.text) expect(typeof text).toBe('string');
    expect(generation.completionTokens()).toBe(out.ids.flat().length);
  });

  it('refuses what it does not combine with, naming the parameter, and widths beyond the running slots', async () => {
    const refused: Array<[Partial<GenerateRequest>, string]> = [
      [{ logprobs: 2 }, 'logprobs'],
      [{ stop: ['x'] }, 'stop'],
      [{ echo: true }, 'echo'],
      [{ promptLookup: { tokens: 3 } }, 'promptLookup'],
    ];
    for (const [extra, param] of refused) {
      await expect(beams({ width: 2, ...extra })).rejects.toMatchObject({ kind: 'invalid_request', param });
    }
    await expect(beams({ width: 17 })).rejects.toMatchObject({ kind: 'invalid_request', param: 'bestOf' });
  });
});
