// The OpenVINO stateful decoder session, over a fake decoder that keeps state the way OpenVINO
// does: every row's logits equal those of its own token history, through prefills in several
// groups, decodes, keep-rows and forks (beam_idx), and the scheduler runs on it unchanged.
import { describe, expect, it } from 'vitest';
import { createStatefulSession } from '../../runtime/backends/openvino-stateful-session.ts';
import { createScheduler } from '../../runtime/batching/scheduler.ts';
import { DEFAULT_SAMPLING } from '../../runtime/generation/logits-processors.ts';
import { argmax } from '../../runtime/generation/sampler.ts';
import { createSequence } from '../../runtime/generation/sequence.ts';
import { createFakeStatefulDecoder, FAKE_VOCAB, logitsAfter } from '../helpers/fake-stateful-decoder.ts';

const rowsOf = (logits: Float32Array) => Array.from({ length: logits.length / FAKE_VOCAB }, (_, i) => [...logits.subarray(i * FAKE_VOCAB, (i + 1) * FAKE_VOCAB)]);

describe('OpenVINO stateful decoder session', () => {
  it('keeps every row on its own history through groups, decodes, keep-rows and forks', async () => {
    const decoder = createFakeStatefulDecoder();
    const session = createStatefulSession(decoder);
    const histories: number[][] = [[1, 2, 3], [4, 5]];
    const first = await session.prefill(histories);
    expect([...first.last(0)]).toEqual([...logitsAfter([1, 2, 3])]);
    expect([...first.last(1)]).toEqual([...logitsAfter([4, 5])]);
    expect([...first.at(0, 0)]).toEqual([...logitsAfter([1])]);
    const step = async (tokens: number[]) => {
      const logits = rowsOf(await session.decode(tokens));
      tokens.forEach((t, i) => (histories[i] as number[]).push(t));
      logits.forEach((row, i) => expect(row).toEqual([...logitsAfter(histories[i] as number[])]));
    };
    await step([7, 8]);
    // A second group joins with prompts of other lengths.
    const second = await session.prefill([[9], [10, 11, 12, 13]]);
    histories.push([9], [10, 11, 12, 13]);
    expect([...second.last(1)]).toEqual([...logitsAfter([10, 11, 12, 13])]);
    await step([1, 2, 3, 4]);
    // Rows leave (and reorder) across both groups.
    session.keepRows([3, 0, 2]);
    histories.splice(0, histories.length, ...[histories[3], histories[0], histories[2]].map((h) => [...(h as number[])]));
    await step([5, 6, 7]);
    // Row 1 forks twice (beams): the copies continue from the same history.
    session.fork(1, 2);
    histories.push([...(histories[1] as number[])], [...(histories[1] as number[])]);
    expect(session.rows).toBe(5);
    await step([1, 2, 3, 4, 5]);
    session.keepRows([4]);
    histories.splice(0, histories.length, histories[4] as number[]);
    await step([6]);
    expect(decoder.requests).toBe(2);
  });

  it('the scheduler generates on it what the history function says, alone and batched', async () => {
    const limits = { maxRunning: 4, maxBatchTokens: 1000, maxQueuedSequences: 16 };
    const greedy = (prompt: number[], maxTokens: number) => {
      const ids = [...prompt];
      for (let i = 0; i < maxTokens; i++) ids.push(argmax(logitsAfter(ids)));
      return ids.slice(prompt.length);
    };
    const scheduler = createScheduler(createStatefulSession(createFakeStatefulDecoder()), limits);
    const prompts = [[1], [2, 3], [4, 5, 6], [7], [8, 9], [10]];
    const outputs = await Promise.all(
      prompts.map(
        (prompt, i) =>
          new Promise<number[]>((resolve, reject) => {
            const sequence = createSequence({ prompt, maxTokens: 5 + i, sampling: { ...DEFAULT_SAMPLING, temperature: 0 }, seed: 1, stop: [], ignoreEos: true, eosIds: new Set(), logprobs: undefined, decode: () => '' });
            scheduler.submit({ sequences: [sequence], onStep: () => {}, onDone: () => resolve([...sequence.generated]), onError: reject });
          }),
      ),
    );
    outputs.forEach((out, i) => expect(out).toEqual(greedy(prompts[i] as number[], 5 + i)));
    expect(scheduler.stats.largestDecodeBatch).toBe(4);
  });
});
