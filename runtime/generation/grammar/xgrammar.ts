// The grammar engine: @mlc-ai/web-xgrammar (the WASM build of the engine vLLM and SGLang use)
// behind the GrammarEngine interface. The only file that loads it, lazily, on the first
// constrained request of a model.
//
// The package ships a UMD bundle under "type": "module", which Node cannot import as it is.
// It is evaluated here as the CommonJS script it is, given the four Node built-ins it asks for.
// Its one dynamic `import('module')` is routed to the same table, since vm scripts cannot import,
// and its Emscripten module gets a printErr, so the reason it gives for an abort reaches the client.
import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';
import * as nodeUrl from 'node:url';
import vm from 'node:vm';
import { RuntimeError } from '../../errors.ts';
import type { CompiledGrammar, GrammarEngine, GrammarMatcher, GrammarSpec, GrammarVocabulary, TagFormat } from './grammar.ts';

const PACKAGE = '@mlc-ai/web-xgrammar';
const DYNAMIC_IMPORT = "await import('module')";
const INSTANTIATE = 'binding = await Module()';

/** The parts of the bundle's API used here (see its lib/xgrammar.d.ts). */
interface XgModule {
  Testings: { _jsonSchemaToEBNF(schema: string, anyWhitespace: boolean, indent: number, separators: [string, string], strict: boolean): Promise<string> };
  TokenizerInfo: { createTokenizerInfo(vocab: string[], kind: string, prependSpace: boolean, size: number, stops: number[]): Promise<unknown> };
  GrammarCompiler: { createGrammarCompiler(info: unknown, cache: boolean): Promise<XgCompiler> };
  GrammarMatcher: { createGrammarMatcher(compiled: XgCompiled): Promise<XgMatcher> };
}
interface XgCompiler {
  compileJSONSchema(schema: string, anyWhitespace: boolean, indent: number, separators?: [string, string], strict?: boolean): Promise<XgCompiled>;
  compileBuiltinJSONGrammar(): Promise<XgCompiled>;
  compileStructuralTag(tag: object): Promise<XgCompiled>;
}
interface XgCompiled {
  dispose(): void;
}
interface XgVector {
  size(): number;
  get(i: number): number;
  delete(): void;
}
interface XgMatcher {
  /** The embind object; its GetNextTokenBitmask is synchronous once the module is loaded. */
  handle: { GetNextTokenBitmask(vocabSize: number): XgVector };
  acceptToken(token: number): boolean;
  isTerminated(): boolean;
  dispose(): void;
}

/** A fresh instance of the bundle (a WASM abort leaves an instance unusable, so it can be replaced). */
function loadBundle(printErr: (text: string) => void): XgModule {
  const file = nodeUrl.fileURLToPath(import.meta.resolve(PACKAGE));
  const source = nodeFs.readFileSync(file, 'utf8');
  for (const anchor of [DYNAMIC_IMPORT, INSTANTIATE]) {
    if (source.split(anchor).length !== 2) throw new Error(`${PACKAGE}: the bundle no longer has the one '${anchor}' this loader adapts`);
  }
  const builtins: Record<string, unknown> = { fs: nodeFs, path: nodePath, url: nodeUrl };
  const requireBuiltin = (name: string) => {
    if (!(name in builtins)) throw new Error(`${PACKAGE} asked for '${name}', which this loader does not provide`);
    return builtins[name];
  };
  builtins.module = { createRequire: () => requireBuiltin };
  const adapted = source.replace(DYNAMIC_IMPORT, "__builtin('module')").replace(INSTANTIATE, 'binding = await Module({ printErr: __printErr })');
  const wrapped = `(function (exports, require, module, __filename, __dirname, __builtin, __printErr) {${adapted}\n})`;
  const factory = vm.runInThisContext(wrapped, { filename: file }) as (...args: unknown[]) => void;
  const module = { exports: {} as XgModule };
  factory(module.exports, requireBuiltin, module, file, nodePath.dirname(file), requireBuiltin, printErr);
  return module.exports;
}

/** An instance is replaced after this many aborts (measured: it keeps compiling and matching after one). */
const MAX_ABORTS = 32;

/** Compiled grammars kept per engine (by spec), least recently used out first. */
const COMPILED_CACHE = 64;

/**
 * An engine for one vocabulary. `stopIds` are the tokens that end a sequence: the grammar allows
 * them only where it can end.
 */
export function createXgrammarEngine(vocabulary: GrammarVocabulary, stopIds: readonly number[]): GrammarEngine {
  let instance: Promise<{ xg: XgModule; compiler: XgCompiler }> | undefined;
  const cache = new Map<string, Promise<XgCompiled>>();
  /** What the engine printed on stderr since the current compile began ("[FATAL] file:line: reason"). */
  let said: string[] = [];

  const start = () =>
    (instance ??= (async () => {
      const xg = loadBundle((text) => void said.push(text));
      const info = await xg.TokenizerInfo.createTokenizerInfo(vocabulary.tokens, vocabulary.kind, false, vocabulary.tokens.length, [...stopIds]);
      return { xg, compiler: await xg.GrammarCompiler.createGrammarCompiler(info, true) };
    })());

  /** Aborts of the current instance: each leaks what the aborted call held, so it is replaced after a few. */
  let aborts = 0;

  async function compileNew(spec: GrammarSpec): Promise<XgCompiled> {
    const { compiler, xg } = await start();
    said = [];
    try {
      // Compact JSON (no free whitespace): a model cannot pad an answer with blanks forever.
      if (spec.kind === 'json') return await compiler.compileBuiltinJSONGrammar();
      if (spec.kind === 'json_schema') return await compiler.compileJSONSchema(JSON.stringify(spec.schema), false, -1, [', ', ': '], true);
      return await compiler.compileStructuralTag({ type: 'structural_tag', format: await compactJson(spec.format, xg) });
    } catch (err) {
      if (/Aborted\(/.test(String((err as Error).message)) && ++aborts >= MAX_ABORTS) {
        instance = undefined;
        cache.clear();
        aborts = 0;
      }
      const reason = said.map((line) => /\[FATAL\][^:]*:\d+: (.*)/.exec(line)?.[1]).find((r) => r !== undefined) ?? (err as Error).message;
      throw new RuntimeError('invalid_request', `The grammar engine cannot compile this ${spec.kind === 'structural_tag' ? 'tool schema' : 'schema'}: ${reason}`, { param: spec.param });
    }
  }

  return {
    async compile(spec) {
      const key = JSON.stringify(spec);
      let compiled = cache.get(key);
      if (compiled) cache.delete(key);
      else compiled = compileNew(spec);
      cache.set(key, compiled);
      compiled.catch(() => cache.delete(key));
      while (cache.size > COMPILED_CACHE) {
        const oldest = cache.keys().next().value as string;
        cache.delete(oldest);
      }
      const ready = await compiled;
      const { xg } = await start();
      return { matcher: async () => wrapMatcher(await xg.GrammarMatcher.createGrammarMatcher(ready), vocabulary.tokens.length) } satisfies CompiledGrammar;
    },
  };
}

/**
 * The structural-tag compiler lets any whitespace into JSON-schema content (measured: tabs and
 * newlines between every key and value). Each such part becomes a grammar of the compact form
 * the json_schema path uses, so tool-call arguments cannot be padded without end either.
 */
async function compactJson(format: TagFormat, xg: XgModule): Promise<unknown> {
  if (format.type === 'json_schema') {
    return { type: 'grammar', grammar: await xg.Testings._jsonSchemaToEBNF(JSON.stringify(format.json_schema), false, -1, [', ', ': '], true) };
  }
  if (format.type === 'tag') return { ...format, content: await compactJson(format.content, xg) };
  if (format.type === 'sequence' || format.type === 'or') return { ...format, elements: await Promise.all(format.elements.map((e) => compactJson(e, xg))) };
  if (format.type === 'triggered_tags' || format.type === 'tags_with_separator') return { ...format, tags: await Promise.all(format.tags.map((t) => compactJson(t, xg))) };
  return format;
}

/** Frees a matcher's WASM memory when a sequence that never finished is collected. */
const released = new FinalizationRegistry<XgMatcher>((m) => m.dispose());

function wrapMatcher(m: XgMatcher, vocabSize: number): GrammarMatcher {
  let disposed = false;
  const matcher: GrammarMatcher = {
    allowed() {
      const vector = m.handle.GetNextTokenBitmask(vocabSize);
      const words = new Int32Array(vector.size());
      for (let i = 0; i < words.length; i++) words[i] = vector.get(i);
      vector.delete();
      return words;
    },
    accept: (token) => m.acceptToken(token),
    get terminated() {
      return m.isTerminated();
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      released.unregister(matcher);
      m.dispose();
    },
  };
  released.register(matcher, m, matcher);
  return matcher;
}
