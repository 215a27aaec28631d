// Chat templates: renders tokenizer_config's Jinja chat_template with @huggingface/jinja.
import { Template } from '@huggingface/jinja';
import { RuntimeError } from './errors.ts';
import type { ChatMessage, ToolDefinition } from './types.ts';

/** Renders a conversation; the generation prompt (the assistant's turn opening) is added by default. */
export type ChatTemplate = (messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean; tools?: readonly ToolDefinition[] }) => string;

/** Arguments JSON text as the object templates expect (transformers passes dicts); text that is not JSON stays text. */
function argumentsValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A message in the shape Hugging Face chat templates read (tool_calls, tool_call_id, reasoning_content). */
function templateMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content };
  if (m.name !== undefined) out.name = m.name;
  if (m.toolCalls !== undefined && m.toolCalls.length > 0) {
    out.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: argumentsValue(c.arguments) } }));
  }
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
  if (m.reasoning !== undefined) out.reasoning_content = m.reasoning;
  return out;
}

/** Tools in the shape templates read: OpenAI's function-tool objects. */
const templateTool = (t: ToolDefinition) => ({ type: 'function', function: { name: t.name, ...(t.description === undefined ? {} : { description: t.description }), parameters: t.parameters } });

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
      return template.render({
        messages: messages.map(templateMessage),
        add_generation_prompt: options.addGenerationPrompt ?? true,
        ...(options.tools && options.tools.length > 0 ? { tools: options.tools.map(templateTool) } : {}),
        ...specials,
      });
    } catch (err) {
      // Templates raise_exception() on conversations they do not support (roles, ordering).
      throw new RuntimeError('invalid_request', `The model's chat template rejected the messages: ${(err as Error).message}`, { param: 'messages' });
    }
  };
}
