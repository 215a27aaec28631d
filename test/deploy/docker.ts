// Reads the Dockerfile and .dockerignore the way a build does: the final stage's instructions,
// the build context an allowlist leaves, and the image's /app laid out from its COPY lines.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { DockerfileParser, type Instruction, type JSONInstruction } from 'dockerfile-ast';
import { PROJECT_DIR } from '../helpers/paths.ts';

export interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

export interface DockerfileModel {
  text: string;
  stages: Stage[];
  final: Stage;
  /** ENV of the final stage, in order. */
  env: Record<string, string>;
  /** ENTRYPOINT then CMD of the final stage, exec form only (a shell form throws). */
  command: string[];
  healthcheck: { flags: Record<string, string>; command: string[] };
  workdir: string;
  user: string;
  stopSignal: string;
  /** COPY lines of the final stage that read the build context: sources and destination. */
  contextCopies: Array<{ sources: string[]; dest: string }>;
  /**
   * COPY --from lines of the final stage: sources as paths under that stage's WORKDIR (what an
   * earlier stage made there from the same context, e.g. `dist` from `npm run build`).
   */
  stageCopies: Array<{ from: string; sources: string[]; dest: string }>;
}

const jsonArgs = (i: Instruction) => (i as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());

export function readDockerfile(file = join(PROJECT_DIR, 'Dockerfile')): DockerfileModel {
  const text = readFileSync(file, 'utf8');
  const parsed = DockerfileParser.parse(text);
  const stages: Stage[] = [];
  for (const instruction of parsed.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === 'FROM') {
      const args = instruction.getArguments().map((a) => a.getValue());
      stages.push({ image: args[0] ?? '', name: args[2] ?? null, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  const final = stages.at(-1);
  if (!final) throw new Error('Dockerfile has no FROM');
  const last = (keyword: string) => final.instructions.filter((i) => i.getKeyword() === keyword).at(-1);
  const env: Record<string, string> = {};
  for (const i of parsed.getENVs().filter((e) => final.instructions.includes(e))) {
    for (const p of i.getProperties()) env[p.getName()] = p.getValue() ?? '';
  }
  const execForm = (keyword: string) => {
    const i = last(keyword);
    if (!i) return [];
    if (!i.getArgumentsContent()?.trim().startsWith('[')) throw new Error(`${keyword} must use the exec (JSON) form`);
    return jsonArgs(i);
  };
  const hc = last('HEALTHCHECK');
  if (!hc) throw new Error('Dockerfile has no HEALTHCHECK');
  const hcText = hc.toString();
  const flags = Object.fromEntries([...hcText.matchAll(/--([a-z-]+)=(\S+)/g)].map((m) => [m[1] as string, m[2] as string]));
  const contextCopies = final.instructions
    .filter((i) => i.getKeyword() === 'COPY' && !/--from=/.test(i.toString()))
    .map((i) => {
      const args = i.getArguments().map((a) => a.getValue());
      return { sources: args.slice(0, -1), dest: args.at(-1) as string };
    });
  const stageCopies = final.instructions
    .filter((i) => i.getKeyword() === 'COPY' && /--from=/.test(i.toString()))
    .map((i) => {
      const from = /--from=(\S+)/.exec(i.toString())![1] as string;
      const stage = stages.find((st) => st.name === from);
      const workdir = stage?.instructions.filter((x) => x.getKeyword() === 'WORKDIR').at(-1)?.getArguments()[0]?.getValue() ?? '/';
      const args = i.getArguments().map((a) => a.getValue()).filter((a) => !a.startsWith('--'));
      return { from, sources: args.slice(0, -1).map((src) => posix.relative(workdir, src)), dest: args.at(-1) as string };
    });
  return {
    text,
    stages,
    final,
    env,
    command: [...execForm('ENTRYPOINT'), ...execForm('CMD')],
    healthcheck: { flags, command: JSON.parse(hcText.slice(hcText.indexOf('['))) as string[] },
    workdir: last('WORKDIR')?.getArguments()[0]?.getValue() ?? '/',
    user: last('USER')?.getArguments()[0]?.getValue() ?? 'root',
    stopSignal: last('STOPSIGNAL')?.getArguments()[0]?.getValue() ?? 'SIGTERM',
    contextCopies,
    stageCopies,
  };
}

interface IgnoreRule {
  exclude: boolean;
  regex: RegExp;
}

/** .dockerignore patterns (Go filepath.Match plus `**`); a pattern also covers what lies below a match. */
export function readDockerignore(file = join(PROJECT_DIR, '.dockerignore')): IgnoreRule[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((line) => {
      const exclude = !line.startsWith('!');
      const pattern = posix.normalize(line.replace(/^!/, '').replace(/^\/+/, '')).replace(/\/$/, '');
      let source = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i] as string;
        if (pattern.startsWith('**/', i)) {
          source += '(?:.*/)?';
          i += 2;
        } else if (pattern.startsWith('**', i)) {
          source += '.*';
          i += 1;
        } else if (c === '*') source += '[^/]*';
        else if (c === '?') source += '[^/]';
        else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { exclude, regex: new RegExp(`^${source}$`) };
    });
}

/** Whether a context-relative path is sent to the builder: the last rule matching it or a parent decides. */
export function inContext(path: string, rules: readonly IgnoreRule[]): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let included = true;
  for (const rule of rules) if (prefixes.some((p) => rule.regex.test(p))) included = !rule.exclude;
  return included;
}

/** Every file of the project (.git and node_modules aside) with whether the build context holds it. */
export function contextFiles(rules: readonly IgnoreRule[]): Map<string, boolean> {
  const files = new Map<string, boolean>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const abs = join(dir, name);
      const rel = relative(PROJECT_DIR, abs).split('\\').join('/');
      if (rel === '.git' || rel === 'node_modules') continue;
      if (statSync(abs).isDirectory()) walk(abs);
      else files.set(rel, inContext(rel, rules));
    }
  };
  walk(PROJECT_DIR);
  return files;
}

/**
 * Lays out the image's working directory under `root` from the final stage's context COPY lines,
 * copying only what the build context holds, and from its COPY --from lines, taking what the
 * earlier stage made from the project folder (where `npm run build` made the same before the
 * tests; node_modules is the caller's to link). Returns the image paths written.
 */
export function stageImage(model: DockerfileModel, rules: readonly IgnoreRule[], root: string): string[] {
  const context = contextFiles(rules);
  const written: string[] = [];
  for (const { sources, dest } of model.contextCopies) {
    const destAbs = posix.isAbsolute(dest) ? dest : posix.join(model.workdir, dest);
    const intoDir = dest.endsWith('/') || sources.length > 1;
    for (const source of sources) {
      const files = [...context].filter(([f, inCtx]) => inCtx && (f === source || f.startsWith(`${source}/`))).map(([f]) => f);
      if (files.length === 0) throw new Error(`COPY ${source}: nothing in the build context`);
      const isDir = statSync(join(PROJECT_DIR, source)).isDirectory();
      for (const f of files) {
        const target = isDir ? posix.join(destAbs, relative(source, f)) : intoDir ? posix.join(destAbs, posix.basename(f)) : destAbs;
        const out = join(root, target);
        mkdirSync(dirname(out), { recursive: true });
        cpSync(join(PROJECT_DIR, f), out);
        written.push(target);
      }
    }
  }
  for (const { sources, dest } of model.stageCopies) {
    for (const source of sources.filter((src) => src !== 'node_modules')) {
      if (!existsSync(join(PROJECT_DIR, source))) throw new Error(`COPY --from ${source}: not in the project folder (run npm run build)`);
      const target = posix.isAbsolute(dest) ? dest : posix.join(model.workdir, dest);
      cpSync(join(PROJECT_DIR, source), join(root, target), { recursive: true });
      written.push(target);
    }
  }
  return written;
}

// `import x from 'y'`, `export ... from 'y'`, bare `import 'y'`, `import('y')`, `require('y')`,
// and `new URL('./file', import.meta.url)` (workers, child processes, assets).
const IMPORT =
  /(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]|new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g;
const TYPE_ONLY = /^\s*(?:import|export)\s+type\s/;

/**
 * Follows every runtime import from the entry files (project-relative): the project files they
 * reach and the packages they load (type-only imports are erased and skipped).
 */
export function importGraph(entries: readonly string[]): { files: Set<string>; packages: Set<string>; missing: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const missing: string[] = [];
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    if (!/\.(ts|mts|mjs|js)$/.test(file)) continue;
    const text = readFileSync(join(PROJECT_DIR, file), 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      if (TYPE_ONLY.test(m[0])) continue;
      const spec = (m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5]) as string;
      if (spec.startsWith('.')) {
        const target = relative(PROJECT_DIR, resolve(PROJECT_DIR, dirname(file), spec)).split('\\').join('/');
        const found = [target, `${target}.ts`, `${target}/index.ts`].find((t) => existsSync(join(PROJECT_DIR, t)) && statSync(join(PROJECT_DIR, t)).isFile());
        if (found) queue.push(found);
        else missing.push(`${file} -> ${spec}`);
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
      }
    }
  }
  return { files, packages, missing };
}
