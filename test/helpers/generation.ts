// Runs a generation to the end and gathers each choice's text, token ids and finish reason.
import type { FinishReason, Generation } from '../../runtime/index.ts';

export interface Collected {
  text: string[];
  ids: number[][];
  finish: Array<FinishReason | undefined>;
  logprobs: number[][];
}

/** Takes the generation or the promise runtime.generate() returns. */
export async function collect(started: Generation | Promise<Generation>): Promise<Collected> {
  const generation = await started;
  const out: Collected = { text: [], ids: [], finish: [], logprobs: [] };
  for (let i = 0; i < generation.choices; i++) out.text.push(''), out.ids.push([]), out.finish.push(undefined), out.logprobs.push([]);
  for await (const e of generation) {
    if (e.type === 'finish') out.finish[e.index] = e.reason;
    else {
      out.text[e.index] += e.text;
      out.ids[e.index]!.push(...e.tokenIds);
      for (const t of e.tokens ?? []) out.logprobs[e.index]!.push(t.logprob);
    }
  }
  return out;
}
