// Splits one sequence's output text into its channels: reasoning (between the template's think
// markers), content, and tool calls (in the model's tool-call syntax). Incremental and pure: each
// push returns what became final; flush returns the rest at the end of the output.
import { createMarkerStream, type MarkerStream } from './tools/marker-stream.ts';
import type { ParsedToolCall, ToolCallParser, ToolCallStream } from './tools/parsers.ts';

export interface ChannelDelta {
  content: string;
  reasoning: string;
  calls: ParsedToolCall[];
}

export interface OutputChannels {
  push(text: string): ChannelDelta;
  flush(): ChannelDelta;
}

export interface ThinkMarkers {
  begin: string;
  end: string;
  /** The prompt ends inside a think block (the template opened it). */
  startInside: boolean;
}

export interface ChannelOptions {
  think?: ThinkMarkers;
  /** Parse tool calls out of the content. */
  tools?: ToolCallParser;
}

const empty = (): ChannelDelta => ({ content: '', reasoning: '', calls: [] });

export function createOutputChannels(options: ChannelOptions): OutputChannels {
  const think: MarkerStream | undefined = options.think
    ? createMarkerStream(options.think.begin, options.think.end, { streamSpans: true, startInside: options.think.startInside })
    : undefined;
  const tools: ToolCallStream | undefined = options.tools?.createStream();

  function toContent(text: string, into: ChannelDelta, end: boolean): void {
    if (!tools) {
      into.content += text;
      return;
    }
    const pieces = [...tools.push(text), ...(end ? tools.flush() : [])];
    for (const piece of pieces) {
      if (piece.kind === 'text') into.content += piece.text;
      else into.calls.push(piece.call);
    }
  }

  function route(text: string, end: boolean): ChannelDelta {
    const out = empty();
    if (!think) {
      toContent(text, out, end);
      return out;
    }
    const pieces = [...think.push(text), ...(end ? think.flush() : [])];
    for (const piece of pieces) {
      if (piece.kind === 'marked') out.reasoning += piece.body;
      else toContent(piece.text, out, false);
    }
    if (end) toContent('', out, true);
    return out;
  }

  return { push: (text) => route(text, false), flush: () => route('', true) };
}

/** The think markers a chat template writes, if any; `prompt` is a rendered prompt of it. */
export function thinkMarkersOf(template: string | undefined, prompt?: string): ThinkMarkers | undefined {
  if (!template || !template.includes('<think>') || !template.includes('</think>')) return undefined;
  const tail = prompt?.trimEnd() ?? '';
  return { begin: '<think>', end: '</think>', startInside: tail.endsWith('<think>') };
}
