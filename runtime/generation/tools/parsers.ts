// Tool-call syntaxes, one registry entry each (as vLLM's tool_parsers/): how a model writes its
// calls (parsed back into name + arguments, incrementally) and the grammar that makes it write
// them validly. Chosen from the chat template, or by name with the model's `tool_parser` key.
import type { TagFormat } from '../grammar/grammar.ts';
import { createMarkerStream } from './marker-stream.ts';

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON schema of the arguments object. */
  parameters: boolean | Record<string, unknown>;
}

export interface ParsedToolCall {
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
}

export type ToolPiece = { kind: 'text'; text: string } | { kind: 'call'; call: ParsedToolCall };

export interface ToolCallStream {
  push(text: string): ToolPiece[];
  flush(): ToolPiece[];
}

export interface ToolGrammarOptions {
  /** `required`: the output is one or more calls; `auto`: text, or calls once one begins. */
  mode: 'required' | 'auto';
  /** More than one call allowed. */
  parallel: boolean;
}

export interface ToolCallParser {
  readonly name: string;
  /** Whether a chat template writes this syntax. */
  detect(template: string): boolean;
  createStream(): ToolCallStream;
  grammar(tools: readonly ToolDefinition[], options: ToolGrammarOptions): TagFormat;
}

/** JSON text, or several JSON texts joined by `separator`, to values; undefined if any fails. */
function parseJsonList(body: string, separator: string | undefined): unknown[] | undefined {
  const parts = [body, ...(separator ? [body.split(separator)] : [])];
  for (const candidate of parts) {
    try {
      return typeof candidate === 'string' ? [JSON.parse(candidate)] : candidate.map((c) => JSON.parse(c));
    } catch {
      // try the next reading
    }
  }
  return undefined;
}

/** `{"name": ..., "<argsKey>": {...}}` (or a list of them) to calls; undefined when it is not one. */
function callsFromJson(body: string, argsKey: string, separator: string | undefined): ParsedToolCall[] | undefined {
  const values = parseJsonList(body, separator);
  if (values === undefined) return undefined;
  const list = values.flatMap((v) => (Array.isArray(v) ? v : [v]));
  const calls: ParsedToolCall[] = [];
  for (const item of list) {
    if (item === null || typeof item !== 'object' || typeof (item as Record<string, unknown>).name !== 'string') return undefined;
    const args = (item as Record<string, unknown>)[argsKey] ?? (item as Record<string, unknown>).arguments ?? {};
    calls.push({ name: (item as { name: string }).name, arguments: typeof args === 'string' ? args : JSON.stringify(args) });
  }
  return calls;
}

interface CallSyntax {
  begin: string;
  /** Undefined: the calls run to the end of the output. */
  end?: string;
  argsKey: string;
  /** The begin marker is the start of the JSON itself (Llama 3 writes no marker of its own). */
  beginIsJson?: boolean;
  /** Between calls written one after another. */
  separator?: string;
}

/**
 * A stream over marked spans holding JSON calls; a span that is not a call stays text, as written.
 * Blank text after a call (the separator between calls) is held and dropped unless words follow.
 */
function jsonCallStream({ begin, end, argsKey, beginIsJson, separator }: CallSyntax): ToolCallStream {
  const markers = createMarkerStream(begin, end);
  let called = false;
  let blank = '';
  const pieces = (marked: ReturnType<typeof markers.push>): ToolPiece[] =>
    marked.flatMap((p): ToolPiece[] => {
      if (p.kind === 'text') {
        if (called && p.text.trim() === '') {
          blank += p.text;
          return [];
        }
        const text = blank + p.text;
        blank = '';
        return [{ kind: 'text', text }];
      }
      const calls = callsFromJson((beginIsJson ? begin + p.body : p.body).trim(), argsKey, separator);
      if (!calls) return [{ kind: 'text', text: begin + p.body + (p.closed && end ? end : '') }];
      called = true;
      blank = '';
      return calls.map((call) => ({ kind: 'call', call }));
    });
  return { push: (text) => pieces(markers.push(text)), flush: () => pieces(markers.flush()) };
}

const schemaOf = (tool: ToolDefinition) => tool.parameters;

/** One tag per tool: begin fixes the tool's name, content is its arguments' schema. */
function tagsFor(tools: readonly ToolDefinition[], begin: (name: string) => string, end: string) {
  return tools.map((tool) => ({ type: 'tag' as const, begin: begin(JSON.stringify(tool.name)), content: { type: 'json_schema' as const, json_schema: schemaOf(tool) }, end }));
}

/** Hermes / Qwen: `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, one block a call. */
const hermes: ToolCallParser = {
  name: 'hermes',
  detect: (template) => template.includes('<tool_call>'),
  createStream: () => jsonCallStream({ begin: '<tool_call>', end: '</tool_call>', argsKey: 'arguments' }),
  grammar(tools, { mode, parallel }) {
    const tags = tagsFor(tools, (name) => `<tool_call>\n{"name": ${name}, "arguments": `, '}\n</tool_call>');
    if (mode === 'auto') return { type: 'triggered_tags', triggers: ['<tool_call>'], tags, stop_after_first: !parallel };
    return { type: 'tags_with_separator', tags, separator: '\n', at_least_one: true, stop_after_first: !parallel };
  },
};

/** Llama 3.x JSON tool calling: `{"name": ..., "parameters": {...}}`, calls separated by `; `. */
const llama3Json: ToolCallParser = {
  name: 'llama3_json',
  detect: (template) => template.includes('<|python_tag|>') || (template.includes('"parameters"') && template.includes('ipython')),
  createStream: () => jsonCallStream({ begin: '{"name"', argsKey: 'parameters', beginIsJson: true, separator: '; ' }),
  grammar(tools, { mode, parallel }) {
    const tags = tagsFor(tools, (name) => `{"name": ${name}, "parameters": `, '}');
    if (mode === 'auto') return { type: 'triggered_tags', triggers: ['{"name": '], tags, stop_after_first: !parallel };
    return { type: 'tags_with_separator', tags, separator: '; ', at_least_one: true, stop_after_first: !parallel };
  },
};

/** Mistral: `[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]` to the end of the output. */
const mistral: ToolCallParser = {
  name: 'mistral',
  detect: (template) => template.includes('[TOOL_CALLS]'),
  createStream: () => jsonCallStream({ begin: '[TOOL_CALLS]', argsKey: 'arguments' }),
  grammar(tools, { mode, parallel }) {
    const calls = tagsFor(tools, (name) => `{"name": ${name}, "arguments": `, '}');
    if (mode === 'auto') {
      // Once the model opens the list, one call closes it.
      const tags = tagsFor(tools, (name) => `[TOOL_CALLS][{"name": ${name}, "arguments": `, '}]');
      return { type: 'triggered_tags', triggers: ['[TOOL_CALLS]'], tags, stop_after_first: true };
    }
    return {
      type: 'sequence',
      elements: [
        { type: 'const_string', value: '[TOOL_CALLS][' },
        { type: 'tags_with_separator', tags: calls, separator: ', ', at_least_one: true, stop_after_first: !parallel },
        { type: 'const_string', value: ']' },
      ],
    };
  },
};

export const TOOL_PARSERS: readonly ToolCallParser[] = [hermes, mistral, llama3Json];

/** The parser named, or the first whose syntax the template writes; undefined when none fits. */
export function toolParserFor(template: string | undefined, named: string | undefined): ToolCallParser | undefined {
  if (named !== undefined) return TOOL_PARSERS.find((p) => p.name === named);
  if (template === undefined) return undefined;
  return TOOL_PARSERS.find((p) => p.detect(template));
}
