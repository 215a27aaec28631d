// Keeps the dependency direction of DESIGN.md true by reading every import in the source tree.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_DIR } from './helpers/paths.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

// `import x from 'y'`, `export ... from 'y'`, bare `import 'y'`, `import('y')` and `require('y')`.
const IMPORT = /(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]/g;
const importsOf = (text: string) => [...text.matchAll(IMPORT)].map((m) => (m[1] ?? m[2] ?? m[3] ?? m[4]) as string);

interface SourceFile {
  file: string; // relative to the project
  imports: string[]; // package names or project-relative paths
  text: string;
}

const files: SourceFile[] = ['handlers', 'runtime', 'models', 'wrangler-free-local'].flatMap((top) =>
  sourceFiles(join(PROJECT_DIR, top)).map((abs) => {
    const text = readFileSync(abs, 'utf8');
    const specifiers = importsOf(text);
    return {
      file: relative(PROJECT_DIR, abs),
      imports: specifiers.map((s) => (s.startsWith('.') ? relative(PROJECT_DIR, resolve(dirname(abs), s)) : s)),
      text,
    };
  }),
);

const violations = (predicate: (f: SourceFile, imp: string) => boolean) =>
  files.flatMap((f) => f.imports.filter((imp) => predicate(f, imp)).map((imp) => `${f.file} -> ${imp}`));

describe('architecture (DESIGN.md dependency direction)', () => {
  it('reads the tree', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it('the runtime never imports Hono, handlers, composition roots or the fixture builder', () => {
    expect(violations((f, imp) => f.file.startsWith('runtime/') && /^(hono|@hono\/)|^(handlers|wrangler-free-local|models)\//.test(imp))).toEqual([]);
  });

  it('handlers import the runtime only through runtime/index.ts', () => {
    expect(violations((f, imp) => f.file.startsWith('handlers/') && imp.startsWith('runtime/') && imp !== 'runtime/index.ts')).toEqual([]);
  });

  it('handlers never import composition roots', () => {
    expect(violations((f, imp) => f.file.startsWith('handlers/') && imp.startsWith('wrangler-free-local/'))).toEqual([]);
  });

  it('route folders never import each other', () => {
    const route = (p: string) => /^handlers\/([^/]+)\//.exec(p)?.[1];
    expect(
      violations((f, imp) => {
        const from = route(f.file);
        const to = route(imp);
        return from !== undefined && to !== undefined && from !== 'shared' && to !== 'shared' && from !== to;
      }),
    ).toEqual([]);
  });

  it('each native addon is imported in exactly one file', () => {
    const importersOf = (pkg: string) => files.filter((f) => f.imports.includes(pkg)).map((f) => f.file);
    expect(importersOf('onnxruntime-node')).toEqual(['runtime/backends/onnxruntime-worker.ts']);
    expect(importersOf('openvino-node')).toEqual(['runtime/backends/openvino.ts']);
  });

  it('no module builds its own require (a way around the one-file rule for native addons)', () => {
    // The xgrammar loader hands its UMD bundle a table of four built-ins in place of `module.createRequire`.
    expect(files.filter((f) => /createRequire/.test(f.text)).map((f) => f.file)).toEqual(['runtime/generation/grammar/xgrammar.ts']);
    expect(files.find((f) => f.file === 'runtime/generation/grammar/xgrammar.ts')?.text).toMatch(/createRequire: \(\) => requireBuiltin/);
  });

  it('the WASM grammar engine is loaded in exactly one file', () => {
    expect(files.filter((f) => f.text.includes('@mlc-ai/web-xgrammar')).map((f) => f.file)).toEqual(['runtime/generation/grammar/xgrammar.ts']);
  });

  it('wire files are pure translation: no Hono, no runtime internals', () => {
    expect(violations((f, imp) => f.file.endsWith('/wire.ts') && (/^(hono|@hono\/)/.test(imp) || (imp.startsWith('runtime/') && imp !== 'runtime/index.ts')))).toEqual([]);
  });

  it('the import scan sees bare imports and requires', () => {
    const probe = "import a from 'a';\nimport 'side-effect';\nexport { b } from 'b';\nawait import('c');\nconst x = require('node:fs');";
    expect(importsOf(probe)).toEqual(['a', 'side-effect', 'b', 'c', 'node:fs']);
  });

  it('tasks, batching and generation see only the Backend interface, not an engine', () => {
    expect(
      violations((f, imp) => /^runtime\/(tasks|batching|generation)\//.test(f.file) && /^runtime\/backends\/(?!backend\.ts$)/.test(imp)),
    ).toEqual([]);
  });

  it('process.env is read only in config and the composition roots', () => {
    const readers = files.filter((f) => /process\.env/.test(f.text)).map((f) => f.file);
    expect(readers.filter((f) => f !== 'runtime/config.ts' && !f.startsWith('wrangler-free-local/'))).toEqual([]);
  });

  it('every module opens with a line saying what it is for', () => {
    expect(files.filter((f) => !/^\/\/ \S/.test(f.text)).map((f) => f.file)).toEqual([]);
  });
});
