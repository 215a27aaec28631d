// Tool-call parsers and the output channels on real-shaped model text, whole and streamed in
// pieces (every split gives the same result).
import { describe, expect, it } from 'vitest';
import { createOutputChannels, thinkMarkersOf, type ChannelDelta } from '../../runtime/generation/output-channels.ts';
import { createMarkerStream } from '../../runtime/generation/tools/marker-stream.ts';
import { TOOL_PARSERS, toolParserFor, type ToolCallParser } from '../../runtime/generation/tools/parsers.ts';

const parser = (name: string) => TOOL_PARSERS.find((p) => p.name === name) as ToolCallParser;

/** Feeds text in chunks of `size` characters and joins what comes out. */
function run(options: Parameters<typeof createOutputChannels>[0], text: string, size: number): ChannelDelta {
  const channels = createOutputChannels(options);
  const out: ChannelDelta = { content: '', reasoning: '', calls: [] };
  const add = (d: ChannelDelta) => {
    out.content += d.content;
    out.reasoning += d.reasoning;
    out.calls.push(...d.calls);
  };
  for (let i = 0; i < text.length; i += size) add(channels.push(text.slice(i, i + size)));
  add(channels.flush());
  return out;
}

const SIZES = [1, 2, 3, 7, 1000];

describe('tool-call parsers', () => {
  const cases: Array<[string, string, ChannelDelta]> = [
    [
      'hermes',
      'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>',
      { content: 'Let me check.\n', reasoning: '', calls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }, { name: 'get_time', arguments: '{}' }] },
    ],
    [
      'mistral',
      '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"zone": 1}}]',
      { content: '', reasoning: '', calls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }, { name: 'get_time', arguments: '{"zone":1}' }] },
    ],
    [
      'llama3_json',
      '{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "get_time", "parameters": {}}',
      { content: '', reasoning: '', calls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }, { name: 'get_time', arguments: '{}' }] },
    ],
  ];
  it.each(cases)('%s: content and calls, the same however the text is split', (name, text, expected) => {
    for (const size of SIZES) expect(run({ tools: parser(name) }, text, size)).toEqual(expected);
  });

  it('a marked span that is not a call stays text, as written', () => {
    const text = 'before <tool_call>not json</tool_call> after';
    for (const size of SIZES) expect(run({ tools: parser('hermes') }, text, size)).toEqual({ content: text, reasoning: '', calls: [] });
  });

  it('an unclosed call at the end of the output is text', () => {
    expect(run({ tools: parser('hermes') }, 'x <tool_call>{"name": "f"', 3).content).toBe('x <tool_call>{"name": "f"');
  });

  it('text that only looks like the start of a marker is released once it is not one', () => {
    const channels = createOutputChannels({ tools: parser('hermes') });
    expect(channels.push('a <tool').content).toBe('a ');
    expect(channels.push('box> b').content).toBe('<toolbox> b');
  });

  it('is chosen from the chat template, or by name', () => {
    expect(toolParserFor("{{ '<tool_call>' }}", undefined)?.name).toBe('hermes');
    expect(toolParserFor('[TOOL_CALLS] {{ tools }}', undefined)?.name).toBe('mistral');
    expect(toolParserFor("<|python_tag|>{{ tools }}", undefined)?.name).toBe('llama3_json');
    expect(toolParserFor('{{ messages }}', undefined)).toBeUndefined();
    expect(toolParserFor('{{ messages }}', 'mistral')?.name).toBe('mistral');
  });

  it('required grammars fix the tool names in the begin strings, auto ones trigger on the call opener', () => {
    const tools = [{ name: 'f', parameters: { type: 'object' } }];
    expect(parser('hermes').grammar(tools, { mode: 'required', parallel: false })).toMatchObject({ type: 'tags_with_separator', at_least_one: true, stop_after_first: true, tags: [{ begin: '<tool_call>\n{"name": "f", "arguments": ' }] });
    expect(parser('hermes').grammar(tools, { mode: 'auto', parallel: true })).toMatchObject({ type: 'triggered_tags', triggers: ['<tool_call>'], stop_after_first: false });
  });
});

describe('reasoning channel', () => {
  const think = { begin: '<think>', end: '</think>', startInside: false };
  it('text between think markers is reasoning, streamed as it grows; the rest is content', () => {
    const text = '<think>I should look it up.</think>The answer is 4.';
    for (const size of SIZES) expect(run({ think }, text, size)).toEqual({ content: 'The answer is 4.', reasoning: 'I should look it up.', calls: [] });
    const channels = createOutputChannels({ think });
    expect(channels.push('<think>abc').reasoning).toBe('abc');
  });

  it('a prompt that opens the think block starts the output inside it', () => {
    expect(run({ think: { ...think, startInside: true } }, 'hmm</think>ok', 2)).toEqual({ content: 'ok', reasoning: 'hmm', calls: [] });
    expect(thinkMarkersOf('<think>{{x}}</think>', '<|im_start|>assistant\n<think>\n')?.startInside).toBe(true);
    expect(thinkMarkersOf('{{x}}', 'x')).toBeUndefined();
  });

  it('reasoning and tool calls together', () => {
    const text = '<think>need weather</think><tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>';
    for (const size of SIZES) expect(run({ think, tools: parser('hermes') }, text, size)).toEqual({ content: '', reasoning: 'need weather', calls: [{ name: 'f', arguments: '{"a":1}' }] });
  });
});

describe('marker stream', () => {
  it('without an end marker a span runs to the end of the output', () => {
    const s = createMarkerStream('[X]', undefined);
    expect(s.push('a[X]b')).toEqual([{ kind: 'text', text: 'a' }]);
    expect(s.flush()).toEqual([{ kind: 'marked', body: 'b', closed: false }]);
  });
});
