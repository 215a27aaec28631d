import { describe, expect, it } from 'vitest';
import { createChatTemplate } from '../../runtime/chat-template.ts';

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
});
