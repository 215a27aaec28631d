import { describe, expect, it } from 'vitest';
import { CHATML_TEMPLATE, CHATML_TOOLS_TEMPLATE } from '../../models/builder/byte-bpe.ts';
import { createChatTemplate } from '../../runtime/chat-template.ts';
import type { ChatMessage } from '../../runtime/index.ts';

describe('chat templates', () => {
  it('renders messages with the generation prompt and the special tokens of tokenizer_config', () => {
    const render = createChatTemplate("{{ bos_token }}{% for m in messages %}[{{ m.role }}{% if m.name %}:{{ m.name }}{% endif %}] {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}", {
      bos_token: '<s>',
      eos_token: { content: '</s>' },
    });
    expect(render([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi', name: 'ada' }])).toBe('<s>[system] Be brief.</s>[user:ada] Hi</s>[assistant]');
  });

  it('turns a template raise_exception into a 400-kind error on messages', () => {
    const render = createChatTemplate("{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with a user message') }}{% endif %}ok", {});
    expect(() => render([{ role: 'assistant', content: 'x' }])).toThrow(expect.objectContaining({ kind: 'invalid_request', param: 'messages', message: expect.stringMatching(/must start with a user message/) }));
  });

  describe("the fixture's tool template (Hermes / Qwen style)", () => {
    const tools = createChatTemplate(CHATML_TOOLS_TEMPLATE, {});
    const chatml = createChatTemplate(CHATML_TEMPLATE, {});
    const weather = { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

    it('renders exactly as plain ChatML without tools, calls or reasoning', () => {
      const conversations: ChatMessage[][] = [
        [{ role: 'user', content: 'Hi' }],
        [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Bye' }],
      ];
      for (const messages of conversations) {
        expect(tools(messages)).toBe(chatml(messages));
        expect(tools(messages, { addGenerationPrompt: false })).toBe(chatml(messages, { addGenerationPrompt: false }));
      }
    });

    it('renders tools into the system turn, assistant calls as <tool_call> blocks, tool results and reasoning', () => {
      const text = tools(
        [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Weather?' },
          { role: 'assistant', content: '', reasoning: 'I need the tool.', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city": "Paris"}' }] },
          { role: 'tool', content: '{"temp": 21}', toolCallId: 'call_1' },
        ],
        { tools: [weather] },
      );
      expect(text.startsWith('<|im_start|>system\nBe brief.\n\n# Tools')).toBe(true);
      expect(text).toContain('<tools>\n{"type": "function", "function": {"name": "get_weather", "description": "Weather now"');
      expect(text).toContain('<|im_start|>assistant\n<think>\nI need the tool.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>');
      expect(text).toContain('<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response><|im_end|>');
      expect(text.endsWith('<|im_start|>assistant\n')).toBe(true);
    });
  });
});
