// Gathers a whole generation (non-streamed responses): text, token log-probabilities and finish per choice.
import type { GeneratedToken, Generation } from '../../runtime/index.ts';

export interface ChoiceResult {
  text: string;
  tokens: GeneratedToken[];
  finishReason: 'stop' | 'length';
}

export async function collectChoices(generation: Generation): Promise<ChoiceResult[]> {
  const choices: ChoiceResult[] = Array.from({ length: generation.choices }, () => ({ text: '', tokens: [], finishReason: 'length' }));
  for await (const event of generation) {
    const choice = choices[event.index] as ChoiceResult;
    if (event.type === 'finish') choice.finishReason = event.reason;
    else {
      choice.text += event.text;
      if (event.tokens) choice.tokens.push(...event.tokens);
    }
  }
  return choices;
}
