// Chat templates: renders tokenizer_config's Jinja chat_template with @huggingface/jinja.
import { Template } from '@huggingface/jinja';
import { RuntimeError } from './errors.ts';
import type { ChatMessage } from './types.ts';

/** Renders a conversation; the generation prompt (the assistant's turn opening) is added by default. */
export type ChatTemplate = (messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }) => string;

/** Special tokens are strings or {content} objects in tokenizer_config.json. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

export function createChatTemplate(source: string, tokenizerConfig: Record<string, unknown>): ChatTemplate {
  const template = new Template(source);
  const specials = Object.fromEntries(
    ['bos_token', 'eos_token', 'unk_token', 'pad_token'].map((k) => [k, tokenText(tokenizerConfig[k]) ?? '']),
  );
  return (messages, options = {}) => {
    try {
      return template.render({ messages, add_generation_prompt: options.addGenerationPrompt ?? true, ...specials });
    } catch (err) {
      // Templates raise_exception() on conversations they do not support (roles, ordering).
      throw new RuntimeError('invalid_request', `The model's chat template rejected the messages: ${(err as Error).message}`, { param: 'messages' });
    }
  };
}
