// The `ovserve` command line (bin.mjs, `npm start`): `serve` (the default; flags and environment:
// PORT, HOST, ROUTE, OVSERVE_CONFIG, OVSERVE_DRAIN_TIMEOUT_S, OVSERVE_ALLOWED_HOSTS, GRPC_PORT,
// OVSERVE_API_KEYS[_FILE], OVSERVE_CORS_ORIGINS, and HF_ENDPOINT / HF_TOKEN for `source: hf:`
// entries), `pull` (a Hugging Face model folder) and `models` (what the config serves, and
// whether each folder is complete).
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ModelTask, RepositoryConfig } from '../runtime/index.ts';
import { displayPath, missingFiles, servingFiles } from './model-folders.ts';
import { packageRoot } from './package-root.ts';
import type { HubOptions } from './pull.ts';
// The server, the runtime and the hub client are imported by the commands that use them, so
// `--help`, `--version` and `pull` start without loading what they do not run.

const DEFAULT_CONFIG = join(packageRoot(), 'models', 'config.json');

/** OVSERVE_DRAIN_TIMEOUT_S: seconds a SIGTERM/SIGINT drain may take; unset or empty means the default. */
function parseDrainTimeoutMs(value: string | undefined, defaultMs: number): number {
  if (value === undefined || value.trim() === '') return defaultMs;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`invalid OVSERVE_DRAIN_TIMEOUT_S "${value}"; use a number of seconds >= 0 (default ${defaultMs / 1000})`);
  }
  return seconds * 1000;
}

/** OVSERVE_ALLOWED_HOSTS: comma-separated host names (`.example.com` for a domain, `*` for any). */
function parseAllowedHosts(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const hosts = value.split(',').map((h) => h.trim()).filter((h) => h !== '');
  const bad = hosts.find((h) => h !== '*' && !/^\.?[a-z0-9.:[\]-]+$/i.test(h));
  if (bad !== undefined) throw new Error(`invalid OVSERVE_ALLOWED_HOSTS entry "${bad}"; use host names, .domain suffixes or *`);
  return hosts;
}

/** --grpc-port / GRPC_PORT: the gRPC service's port (0: any free one); unset or empty means no gRPC server. */
function parseGrpcPort(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const port = /^\s*\d{1,5}\s*$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65535)) throw new Error(`invalid gRPC port "${value}" (--grpc-port / GRPC_PORT); use 0-65535, or leave it unset for no gRPC server`);
  return port;
}

/** A comma-separated list; unset or empty is none. */
const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

/** API keys: --api-key (repeatable) and OVSERVE_API_KEYS (comma-separated), plus OVSERVE_API_KEYS_FILE (one per line). */
function apiKeys(flags: readonly string[] | undefined): string[] | undefined {
  const file = process.env.OVSERVE_API_KEYS_FILE;
  const fromFile = file ? readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')) : [];
  const keys = [...(flags ?? []), ...list(process.env.OVSERVE_API_KEYS), ...fromFile];
  if (file && fromFile.length === 0) throw new Error(`OVSERVE_API_KEYS_FILE ${file} holds no key`);
  return keys.length > 0 ? keys : undefined;
}

const PACKAGE_JSON = join(packageRoot(), 'package.json');

/** A mistake in the command line: its message, a pointer to --help, exit code 2. */
class UsageError extends Error {}

const HELP = `ovserve: serve local models over the OpenAI, Cohere and Open Inference Protocol APIs

Usage: ovserve [command] [options]

Commands:
  serve                 serve the models of a config (the default command; what npm start runs)
  pull <org/name>[@rev] download a Hugging Face model folder (resumable, verified)
  models                list the config's models and whether each folder is complete

Options:
  -h, --help            this help; \`ovserve <command> --help\` for one command's
  -v, --version         the version

Environment: HF_ENDPOINT (hub base URL, default https://huggingface.co) and HF_TOKEN apply to
pull and to serve's \`source: hf:\` entries; see \`ovserve serve --help\` for the server's own.
`;

const serveHelp = (routes: readonly string[], drainTimeoutMs: number) => `Usage: ovserve serve [options]

Serves every route (or one) over the models of a config. A model with "source": "hf:org/name[@rev]"
whose folder is missing or incomplete is pulled into its path first.

Options (each with its environment variable):
  --config FILE         model config (OVSERVE_CONFIG; default models/config.json of the checkout)
  --port N              HTTP port, 0 for any free one (PORT; default 8000)
  --host HOSTS          addresses to bind, comma-separated (HOST; default 127.0.0.1,::1:
                        both loopback families, so localhost works whichever it resolves to)
  --route NAME          one route per process: all, ${routes.join(', ')} (ROUTE)
  --grpc-port N         Open Inference Protocol over gRPC on this port (GRPC_PORT; off when unset)
  --api-key KEY         require this API key on every route but health; repeatable
                        (OVSERVE_API_KEYS, comma-separated; OVSERVE_API_KEYS_FILE, one per line)
  -h, --help            this help

Environment only:
  OVSERVE_DRAIN_TIMEOUT_S   seconds a SIGTERM/SIGINT drain may take (default ${drainTimeoutMs / 1000})
  OVSERVE_ALLOWED_HOSTS     host names answered besides loopback ones (comma-separated, .domain, *)
  OVSERVE_CORS_ORIGINS      CORS origins (comma-separated, or *; off by default)
  LOG_LEVEL, LOG_PROMPTS    request lines' level (info; silent for none); LOG_PROMPTS=1 adds prompts
  HF_ENDPOINT, HF_TOKEN     where \`source: hf:\` entries are pulled from, and the token sent
`;

const PULL_HELP = `Usage: ovserve pull <org/name>[@revision] [--include PATTERN ...] [--dir DIR]

Downloads a Hugging Face model repo's files (at a branch, tag or commit; default main) into DIR.
Each file goes to <file>.part first and is checked against its sha256 (LFS files) or git blob id
before it takes its name; a run that was interrupted resumes the .part where it stopped, and
files already in place (same checksum) are kept.

Options:
  --include PATTERN     only the files matching this shell-style pattern (* crosses folders too,
                        e.g. "*.json" or "onnx/model.onnx"); repeatable
  --dir DIR             target folder (default models/<org>--<name>, under the current folder)
  -h, --help            this help

Environment: HF_ENDPOINT (hub base URL, default https://huggingface.co), HF_TOKEN (sent as
Authorization: Bearer, for private and gated repos).
`;

const MODELS_HELP = `Usage: ovserve models [--config FILE]

Lists the models the config serves (name, task, backend, path, source) and whether each folder
has what its task loads (config.json, tokenizer.json and the model file; for text-to-image
model_index.json and the network folders). Exits 1 when any folder is incomplete.

Options:
  --config FILE         model config (OVSERVE_CONFIG; default models/config.json of the checkout)
  -h, --help            this help
`;

/** parseArgs, with its complaints turned into usage errors. */
function parse<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function hubFromEnv(): HubOptions {
  return { endpoint: process.env.HF_ENDPOINT || undefined, token: process.env.HF_TOKEN || undefined };
}

function configFileOf(flag: string | undefined): string {
  return flag ?? process.env.OVSERVE_CONFIG ?? DEFAULT_CONFIG;
}

/**
 * Before serving: each model with a `source` whose folder is missing or incomplete is pulled into
 * its path (one log line each); a failed pull fails the start. The runtime never downloads.
 */
async function pullSources(config: RepositoryConfig, hub: HubOptions, log: (line: string) => void): Promise<void> {
  const { formatBytes, parseSource, pullRepo } = await import('./pull.ts');
  for (const entry of config.models) {
    if (!entry.source) continue;
    const missing = missingFiles(entry);
    if (missing.length === 0) continue;
    const started = Date.now();
    try {
      // Only what the task loads: the metadata files and the one model file the backend would open.
      const result = await pullRepo({ ...hub, ...parseSource(entry.source), dir: entry.path, select: (paths) => servingFiles(entry, paths) });
      log(`${entry.name}: pulled ${entry.source} (commit ${result.commit.slice(0, 12)}, ${result.downloaded} of ${result.files} file(s) fetched, ${formatBytes(result.bytes)}) into ${entry.path} in ${Date.now() - started} ms; it lacked ${missing.join(', ')}`);
    } catch (err) {
      throw new Error(`${entry.name}: pulling ${entry.source} into ${entry.path} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

async function serveCommand(args: string[]): Promise<void> {
  const { values } = parse({
    args,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      route: { type: 'string' },
      'grpc-port': { type: 'string' },
      'api-key': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [{ ROUTE_NAMES, ROUTES }, { loadConfigFile }, { closeOnSignals, DEFAULT_DRAIN_TIMEOUT_MS }, { hostsOf, parseRoute, serve }] = await Promise.all([
    import('../handlers/app.ts'),
    import('../runtime/index.ts'),
    import('./lifecycle.ts'),
    import('./serve.ts'),
  ]);
  if (values.help) {
    process.stdout.write(serveHelp(ROUTE_NAMES, DEFAULT_DRAIN_TIMEOUT_MS));
    return;
  }
  const configFile = configFileOf(values.config);
  const port = Number(values.port ?? process.env.PORT ?? 8000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port "${values.port ?? process.env.PORT}"`);
  const drainTimeoutMs = parseDrainTimeoutMs(process.env.OVSERVE_DRAIN_TIMEOUT_S, DEFAULT_DRAIN_TIMEOUT_MS);
  const config = loadConfigFile(configFile);
  const route = parseRoute(values.route ?? process.env.ROUTE);
  // Only the models this process loads (serve() keeps those of the route's tasks).
  const tasks: readonly ModelTask[] | undefined = route ? ROUTES[route].tasks : undefined;
  await pullSources(tasks ? { models: config.models.filter((m) => tasks.includes(m.task)) } : config, hubFromEnv(), console.log);
  const running = await serve({
    config,
    port,
    ...hostsOf(values.host ?? process.env.HOST),
    route,
    allowedHosts: parseAllowedHosts(process.env.OVSERVE_ALLOWED_HOSTS),
    grpcPort: parseGrpcPort(values['grpc-port'] ?? process.env.GRPC_PORT),
    apiKeys: apiKeys(values['api-key']),
    corsOrigins: list(process.env.OVSERVE_CORS_ORIGINS),
    // One JSON line per request on stdout (pino); LOG_LEVEL=silent turns them off.
    requestLogLevel: process.env.LOG_LEVEL ?? 'info',
    logPrompts: process.env.LOG_PROMPTS === '1',
  });
  closeOnSignals(running, console.log, { drainTimeoutMs });
  // A model that cannot load is fatal for a server process (the log line says why).
  running.ready.catch(() => running.close({ timeoutMs: drainTimeoutMs, log: console.log }).finally(() => process.exit(1)));
}

async function pullCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse({
    args,
    allowPositionals: true,
    options: {
      include: { type: 'string', multiple: true },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(PULL_HELP);
    return;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'name the repo: ovserve pull org/name[@revision]' : `one repo at a time (got ${positionals.join(' ')})`);
  const [{ defaultPullDir, formatBytes, parseRepoRef, pullRepo }, { createPullProgress }] = await Promise.all([import('./pull.ts'), import('./progress.ts')]);
  const { repo, revision } = parseRepoRef(positionals[0]!);
  const dir = values.dir ?? defaultPullDir(repo);
  const result = await pullRepo({ ...hubFromEnv(), repo, revision, dir, include: values.include, progress: createPullProgress() });
  console.log(`pulled ${repo}@${result.commit.slice(0, 12)} into ${displayPath(result.dir)}: ${result.files} file(s), ${formatBytes(result.bytes)} (${result.downloaded} fetched, ${result.files - result.downloaded} already in place)`);
}

/** Columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

async function modelsCommand(args: string[]): Promise<number> {
  const { values } = parse({ args, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(MODELS_HELP);
    return 0;
  }
  const { loadConfigFile } = await import('../runtime/index.ts');
  const configFile = configFileOf(values.config);
  const config = loadConfigFile(configFile);
  const rows = [['NAME', 'TASK', 'BACKEND', 'PATH', 'SOURCE', 'STATUS']];
  let incomplete = 0;
  for (const entry of config.models) {
    const missing = missingFiles(entry);
    if (missing.length > 0) incomplete++;
    const source = entry.source ?? (entry.build ? `build:${entry.build}` : '-');
    const status = missing.length === 0 ? 'complete' : `incomplete: missing ${missing.join(', ')}`;
    rows.push([entry.name, entry.task, entry.backend, displayPath(entry.path), source, status]);
  }
  console.log(table(rows));
  if (incomplete > 0) {
    console.log(`\n${incomplete} of ${config.models.length} model folder(s) incomplete (${displayPath(configFile)}); \`ovserve pull\` fetches a repo, and serve fills hf: sources and build: fixtures itself`);
    return 1;
  }
  return 0;
}

function version(): string {
  return (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
}

const COMMANDS = ['serve', 'pull', 'models'] as const;

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  // No command, or options first (the way `npm start -- --port ...` calls it): serve.
  const command = first === undefined || (first.startsWith('-') && !['-h', '--help', '-v', '--version'].includes(first)) ? 'serve' : first;
  const args = command === first ? rest : argv;
  try {
    if (command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(HELP);
    } else if (command === '-v' || command === '--version') {
      console.log(version());
    } else if (command === 'serve') {
      await serveCommand(args);
    } else if (command === 'pull') {
      await pullCommand(args);
    } else if (command === 'models') {
      process.exitCode = await modelsCommand(args);
    } else {
      throw new UsageError(`unknown command "${command}"; use one of: ${COMMANDS.join(', ')}`);
    }
  } catch (err) {
    const where = (COMMANDS as readonly string[]).includes(command) ? `ovserve ${command}` : 'ovserve';
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
    if (err instanceof UsageError) {
      console.error(`${where}: ${message} (see ${where} --help)`);
      process.exit(2);
    }
    // A serve failure keeps its old prefix (`ovserve:`); the other commands name themselves.
    console.error(`${command === 'serve' ? 'ovserve' : where}: ${message}`);
    process.exit(1);
  }
}

await main(process.argv.slice(2));
