// Gathers a whole generation (non-streamed responses): text, reasoning, tool calls, token
// log-probabilities and finish per choice.
import type { FinishReason, GeneratedToken, Generation, ToolCall } from '../../runtime/index.ts';

export interface ChoiceResult {
  text: string;
  reasoning: string;
  toolCalls: ToolCall[];
  tokens: GeneratedToken[];
  finishReason: FinishReason;
  /** The stop string that ended the choice, when one did. */
  stopSequence?: string;
}

export async function collectChoices(generation: Generation): Promise<ChoiceResult[]> {
  const choices: ChoiceResult[] = Array.from({ length: generation.choices }, () => ({ text: '', reasoning: '', toolCalls: [], tokens: [], finishReason: 'length' }));
  for await (const event of generation) {
    const choice = choices[event.index] as ChoiceResult;
    if (event.type === 'finish') {
      choice.finishReason = event.reason;
      if (event.stopSequence !== undefined) choice.stopSequence = event.stopSequence;
    }
    else {
      choice.text += event.text;
      if (event.reasoning) choice.reasoning += event.reasoning;
      for (const call of event.toolCalls ?? []) choice.toolCalls.push({ name: call.name, arguments: call.arguments });
      if (event.tokens) choice.tokens.push(...event.tokens);
    }
  }
  return choices;
}
