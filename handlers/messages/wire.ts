// Anthropic Messages wire shapes (/v1/messages, /v1/messages/count_tokens) and pure translation
// to and from the runtime's chat generation: content blocks to chat messages, tool_use and
// tool_result blocks to tool calls and tool turns, the runtime's events to Anthropic's stream.
import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import { RuntimeError, type ChatMessage, type FinishReason, type GenerateRequest, type ToolCall, type ToolChoice, type ToolDefinition } from '../../runtime/index.ts';
import type { ChoiceResult } from '../shared/collect.ts';
import { finiteBetween, integerBetween, JsonSchemaObject, looseWireObject, wireObject } from '../shared/schemas.ts';

const CacheControl = v.optional(v.unknown());
const TextBlock = looseWireObject({ type: v.literal('text'), text: v.string(), cache_control: CacheControl });
const ToolUseBlock = looseWireObject({ type: v.literal('tool_use'), id: v.string(), name: v.string(), input: v.unknown(), cache_control: CacheControl });
const ToolResultBlock = looseWireObject({
  type: v.literal('tool_result'),
  tool_use_id: v.string(),
  content: v.optional(v.union([v.string(), v.array(looseWireObject({ type: v.string() }))], 'tool_result content must be a string or a list of blocks')),
  is_error: v.optional(v.boolean()),
  cache_control: CacheControl,
});
const ThinkingBlock = looseWireObject({ type: v.literal('thinking'), thinking: v.string(), signature: v.optional(v.string()) });
const OtherBlock = looseWireObject({ type: v.string() });
const Block = v.union([TextBlock, ToolUseBlock, ToolResultBlock, ThinkingBlock, OtherBlock]);

const Message = wireObject({
  role: v.picklist(['user', 'assistant'], "role must be 'user' or 'assistant'"),
  content: v.union([v.string(), v.array(Block)], 'content must be a string or a list of content blocks'),
});

const Tool = wireObject({
  type: v.optional(v.literal('custom', "only custom tools (with an input_schema) are supported; server tools are not")),
  name: v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_-]{1,128}$/, 'tool names are 1-128 letters, digits, underscores or dashes')),
  description: v.optional(v.string()),
  input_schema: JsonSchemaObject,
  cache_control: CacheControl,
});
const ToolChoiceSchema = v.variant(
  'type',
  [
    v.strictObject({ type: v.literal('auto'), disable_parallel_tool_use: v.optional(v.boolean()) }),
    v.strictObject({ type: v.literal('any'), disable_parallel_tool_use: v.optional(v.boolean()) }),
    v.strictObject({ type: v.literal('tool'), name: v.string(), disable_parallel_tool_use: v.optional(v.boolean()) }),
    v.strictObject({ type: v.literal('none') }),
  ],
  "tool_choice.type must be 'auto', 'any', 'tool' or 'none'",
);
const System = v.union([v.string(), v.array(TextBlock)], 'system must be a string or a list of text blocks');
const Display = v.nullish(v.picklist(['summarized', 'omitted']));
const Thinking = v.variant('type', [
  v.strictObject({ type: v.literal('enabled'), budget_tokens: integerBetween(1), display: Display }),
  v.strictObject({ type: v.literal('adaptive'), display: Display }),
  v.strictObject({ type: v.literal('between_tools') }),
  v.strictObject({ type: v.literal('disabled') }),
]);
/** Structured outputs: `output_config.format` is a JSON schema the answer must match. */
const OutputConfig = wireObject({
  effort: v.nullish(v.picklist(['low', 'medium', 'high', 'xhigh', 'max'])),
  format: v.nullish(wireObject({ type: v.literal('json_schema', "output_config.format.type must be 'json_schema'"), schema: JsonSchemaObject })),
});

/** Fields count_tokens and messages share. */
const conversation = {
  model: v.string(),
  messages: v.pipe(v.array(Message), v.minLength(1, 'messages must not be empty')),
  system: v.optional(System),
  tools: v.optional(v.pipe(v.array(Tool), v.maxLength(128, 'at most 128 tools'))),
  tool_choice: v.optional(ToolChoiceSchema),
  thinking: v.optional(Thinking),
};

export const MessagesRequestSchema = wireObject({
  ...conversation,
  max_tokens: integerBetween(1),
  output_config: v.optional(OutputConfig),
  // Anthropic's ranges: temperature 0-1. (Its newest SDKs no longer type the sampling fields; older ones send them.)
  temperature: v.optional(finiteBetween(0, 1)),
  top_p: v.optional(finiteBetween(0, 1)),
  top_k: v.optional(integerBetween(0)),
  stop_sequences: v.optional(v.pipe(v.array(v.string()), v.maxLength(16, 'at most 16 stop sequences'))),
  stream: v.optional(v.boolean()),
  metadata: v.optional(wireObject({ user_id: v.nullish(v.string()) })),
  service_tier: v.optional(v.picklist(['auto', 'standard_only'])),
  // Routing and caching hints for Anthropic's own infrastructure: nothing to do here.
  cache_control: CacheControl,
  inference_geo: v.nullish(v.string()),
  speed: v.nullish(v.picklist(['standard', 'fast'])),
});

export const CountTokensRequestSchema = wireObject(conversation);

export type MessagesRequest = v.InferOutput<typeof MessagesRequestSchema>;
export type CountTokensRequest = v.InferOutput<typeof CountTokensRequestSchema>;
type WireBlock = v.InferOutput<typeof Block>;

const unsupportedBlock = (type: string, param: string) =>
  new RuntimeError('unsupported', `Content blocks of type '${type}' are not supported; this model takes text, tool_use, tool_result and thinking blocks.`, { param });

function toolResultText(block: v.InferOutput<typeof ToolResultBlock>, param: string): string {
  if (block.content === undefined) return '';
  if (typeof block.content === 'string') return block.content;
  return block.content
    .map((part, j) => {
      if (part.type !== 'text' || typeof part.text !== 'string') throw unsupportedBlock(part.type, `${param}.content[${j}]`);
      return part.text;
    })
    .join('');
}

/** One wire message to chat messages: tool results become tool turns ahead of the user's text. */
function messagesFromWire(m: v.InferOutput<typeof Message>, i: number): ChatMessage[] {
  if (typeof m.content === 'string') return [{ role: m.role, content: m.content }];
  const out: ChatMessage[] = [];
  let text = '';
  let reasoning: string | undefined;
  const calls: ToolCall[] = [];
  m.content.forEach((block: WireBlock, j) => {
    const param = `messages[${i}].content[${j}]`;
    if (block.type === 'text') text += (block as v.InferOutput<typeof TextBlock>).text;
    else if (block.type === 'tool_use' && m.role === 'assistant') {
      const use = block as v.InferOutput<typeof ToolUseBlock>;
      calls.push({ id: use.id, name: use.name, arguments: JSON.stringify(use.input ?? {}) });
    } else if (block.type === 'tool_result' && m.role === 'user') {
      const result = block as v.InferOutput<typeof ToolResultBlock>;
      out.push({ role: 'tool', content: toolResultText(result, param), toolCallId: result.tool_use_id });
    } else if (block.type === 'thinking' && m.role === 'assistant') reasoning = (reasoning ?? '') + (block as v.InferOutput<typeof ThinkingBlock>).thinking;
    else if (block.type === 'redacted_thinking' && m.role === 'assistant') return;
    else throw unsupportedBlock(block.type, param);
  });
  if (text !== '' || calls.length > 0 || reasoning !== undefined || out.length === 0) {
    out.push({ role: m.role, content: text, ...(calls.length > 0 ? { toolCalls: calls } : {}), ...(reasoning === undefined ? {} : { reasoning }) });
  }
  return out;
}

/** The conversation both routes render: system first, then the turns. */
export function conversationFromWire(body: CountTokensRequest): { messages: ChatMessage[]; tools?: ToolDefinition[]; toolChoice?: ToolChoice; parallelToolCalls?: boolean } {
  const system = body.system === undefined ? undefined : typeof body.system === 'string' ? body.system : body.system.map((b) => b.text).join('\n');
  const messages = [...(system ? [{ role: 'system', content: system }] : []), ...body.messages.flatMap(messagesFromWire)];
  const tools = body.tools?.map((t) => ({ name: t.name, ...(t.description === undefined ? {} : { description: t.description }), parameters: t.input_schema }));
  const choice = body.tool_choice;
  const toolChoice: ToolChoice | undefined = choice === undefined ? undefined : choice.type === 'any' ? 'required' : choice.type === 'tool' ? { name: choice.name } : choice.type;
  const parallel = choice && 'disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use === true ? false : undefined;
  return { messages, ...(tools ? { tools } : {}), ...(toolChoice ? { toolChoice } : {}), ...(parallel === undefined ? {} : { parallelToolCalls: parallel }) };
}

export function fromWire(body: MessagesRequest, signal: AbortSignal): GenerateRequest {
  const { messages, ...tools } = conversationFromWire(body);
  return {
    model: body.model,
    prompts: [{ messages }],
    n: 1,
    maxTokens: body.max_tokens,
    ...(body.temperature === undefined ? {} : { temperature: body.temperature }),
    ...(body.top_p === undefined ? {} : { topP: body.top_p }),
    ...(body.top_k === undefined || body.top_k === 0 ? {} : { topK: body.top_k }),
    stop: body.stop_sequences ?? [],
    ...tools,
    ...(body.output_config?.format ? { outputFormat: { type: 'json_schema' as const, schema: body.output_config.format.schema } } : {}),
    signal,
  };
}

/** Runtime field -> the Messages wire field, for error messages. */
export const MESSAGES_WIRE_PARAMS = { maxTokens: 'max_tokens', prompt: 'messages', temperature: 'temperature', topP: 'top_p', topK: 'top_k', tools: 'tools', toolChoice: 'tool_choice', stop: 'stop_sequences', outputFormat: 'output_config.format' } as const;

export const messageId = () => `msg_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
export const toolUseId = () => `toolu_${randomUUID().replace(/-/g, '').slice(0, 24)}`;

type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

export function stopReasonOf(reason: FinishReason, stopSequence: string | undefined): StopReason {
  if (reason === 'length') return 'max_tokens';
  if (reason === 'tool_calls') return 'tool_use';
  return stopSequence === undefined ? 'end_turn' : 'stop_sequence';
}

/** Arguments JSON text as the object Anthropic's `input` is (text that is not JSON stays as text). */
function inputOf(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

/** Anthropic counts cache reads apart: input_tokens are the prompt tokens that were not. */
const usage = (input: number, output: number, cached: number) => ({ input_tokens: input - cached, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: cached });

export function toWire(id: string, model: string, choice: ChoiceResult, promptTokens: number, completionTokens: number, cachedTokens: number) {
  const content = [
    ...(choice.reasoning !== '' ? [{ type: 'thinking' as const, thinking: choice.reasoning, signature: '' }] : []),
    ...(choice.text !== '' || choice.toolCalls.length === 0 ? [{ type: 'text' as const, text: choice.text }] : []),
    ...choice.toolCalls.map((call) => ({ type: 'tool_use' as const, id: toolUseId(), name: call.name, input: inputOf(call.arguments) })),
  ];
  return {
    id,
    type: 'message' as const,
    role: 'assistant' as const,
    model,
    content,
    stop_reason: stopReasonOf(choice.finishReason, choice.stopSequence),
    stop_sequence: choice.stopSequence ?? null,
    usage: usage(promptTokens, completionTokens, cachedTokens),
  };
}

/** The message_start event: the message with no content yet. */
export const messageStart = (id: string, model: string, promptTokens: number) => ({
  type: 'message_start' as const,
  message: { id, type: 'message' as const, role: 'assistant' as const, model, content: [], stop_reason: null, stop_sequence: null, usage: usage(promptTokens, 0, 0) },
});

export type BlockKind = 'text' | 'thinking';

export const blockStart = (index: number, block: { type: 'text' } | { type: 'thinking' } | { type: 'tool_use'; id: string; name: string }) => ({
  type: 'content_block_start' as const,
  index,
  content_block: block.type === 'text' ? { type: 'text', text: '' } : block.type === 'thinking' ? { type: 'thinking', thinking: '', signature: '' } : { ...block, input: {} },
});

export const blockDelta = (index: number, kind: BlockKind | 'tool_use', text: string) => ({
  type: 'content_block_delta' as const,
  index,
  delta: kind === 'text' ? { type: 'text_delta', text } : kind === 'thinking' ? { type: 'thinking_delta', thinking: text } : { type: 'input_json_delta', partial_json: text },
});

export const blockStop = (index: number) => ({ type: 'content_block_stop' as const, index });

/** The closing delta; its usage is cumulative, with the cache reads known once the prompt ran. */
export const messageDelta = (reason: StopReason, stopSequence: string | undefined, promptTokens: number, outputTokens: number, cachedTokens: number) => ({
  type: 'message_delta' as const,
  delta: { stop_reason: reason, stop_sequence: stopSequence ?? null },
  usage: { input_tokens: promptTokens - cachedTokens, output_tokens: outputTokens, cache_read_input_tokens: cachedTokens },
});
