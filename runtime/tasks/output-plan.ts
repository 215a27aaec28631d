// One decision per request about its output's shape: which tools the template sees, which
// tool-call syntax is parsed out of the output, and which grammar (if any) every sequence must
// follow, from tools / tool choice / output format. Refusals name the request field.
import { RuntimeError } from '../errors.ts';
import type { CompiledGrammar, GrammarEngine, GrammarSpec } from '../generation/grammar/grammar.ts';
import { enforceableSchema } from '../generation/grammar/json-schema.ts';
import { toolParserFor, type ToolCallParser } from '../generation/tools/parsers.ts';
import type { GenerateRequest, ToolDefinition } from '../types.ts';

export interface OutputPlan {
  /** Tools rendered into the prompt by the chat template. */
  tools: ToolDefinition[] | undefined;
  /** Parses calls out of the output (tools given and tool choice not none). */
  parser: ToolCallParser | undefined;
  /** The grammar each sequence follows. */
  grammar: CompiledGrammar | undefined;
}

export interface OutputContext {
  chatTemplate: string | undefined;
  /** The model's configured tool_parser. */
  toolParser: string | undefined;
  /** The model's grammar engine, made on first use. */
  engine: () => GrammarEngine;
}

const invalid = (message: string, param: string) => new RuntimeError('invalid_request', message, { param });

/**
 * Most schema text (JSON characters) one request's grammar may hold. Compiling runs on the
 * server's main thread and grows with the schema (measured on a 49k vocabulary: 12 KB 80 ms,
 * 49 KB 500 ms), so the bound keeps one request from stalling every stream.
 */
export const MAX_SCHEMA_CHARS = 32 * 1024;

export async function planOutput(request: GenerateRequest, context: OutputContext): Promise<OutputPlan> {
  const tools = request.tools && request.tools.length > 0 ? request.tools : undefined;
  const choice = request.toolChoice ?? (tools ? 'auto' : 'none');
  const format = request.outputFormat ?? { type: 'text' };
  const chat = request.prompts.every((p) => 'messages' in p);
  if (!tools && choice !== 'none' && choice !== 'auto') throw invalid('tool_choice requires tools.', 'toolChoice');
  if (tools && !chat) throw invalid('Tools are for chat conversations.', 'tools');

  let parser: ToolCallParser | undefined;
  if (tools) {
    const names = new Set<string>();
    for (const tool of tools) {
      if (names.has(tool.name)) throw invalid(`Tool names must be unique; '${tool.name}' is given twice.`, 'tools');
      names.add(tool.name);
    }
    parser = toolParserFor(context.chatTemplate, context.toolParser);
    if (!parser || !context.chatTemplate?.includes('tools')) {
      throw invalid("This model's chat template has no tool support (no tool-call syntax it writes is known, and no tool_parser is configured).", 'tools');
    }
    if (typeof choice === 'object' && !names.has(choice.name)) throw invalid(`tool_choice names '${choice.name}', which is not among the tools.`, 'toolChoice');
  }
  const calling = tools !== undefined && choice !== 'none';
  if (calling && format.type !== 'text') throw invalid('response_format and tools cannot both shape one answer; use one of them (or tool_choice none).', 'outputFormat');

  let spec: GrammarSpec | undefined;
  if (format.type === 'json') spec = { kind: 'json', param: 'outputFormat' };
  else if (format.type === 'json_schema') spec = { kind: 'json_schema', schema: enforceableSchema(format.schema, 'outputFormat'), param: 'outputFormat' };
  else if (calling && parser) {
    const chosen = typeof choice === 'object' ? (tools as ToolDefinition[]).filter((t) => t.name === choice.name) : (tools as ToolDefinition[]);
    const checked = chosen.map((t) => ({ ...t, parameters: enforceableSchema(t.parameters, 'tools') }));
    const mode = choice === 'auto' ? 'auto' : 'required';
    spec = { kind: 'structural_tag', format: parser.grammar(checked, { mode, parallel: typeof choice === 'object' ? false : (request.parallelToolCalls ?? true) }), param: 'tools' };
  }
  if (spec) {
    const size = JSON.stringify(spec).length;
    if (size > MAX_SCHEMA_CHARS) {
      throw invalid(`The ${spec.param === 'tools' ? 'tool schemas come' : 'schema comes'} to ${size} characters; this server compiles at most ${MAX_SCHEMA_CHARS} per request.`, spec.param);
    }
  }
  return {
    tools,
    parser: calling ? parser : undefined,
    grammar: spec ? await context.engine().compile(spec) : undefined,
  };
}
