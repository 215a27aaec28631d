// The `ovserve` executable as users run it: help and version, `pull` against a local fake of the
// Hugging Face hub (full, filtered, resumed, corrupted, missing, with a token), `models` over
// complete and incomplete folders, and `serve` pulling a `source: hf:` model before it serves.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, type CliRun } from '../helpers/cli.ts';
import { bytes, readFolder, sha256, startFakeHub, type FakeHub } from '../helpers/fake-hub.ts';
import { copyFixture, fixturePath } from '../helpers/fixtures.ts';
import { PROJECT_DIR } from '../helpers/paths.ts';
import { commandLine, descendants, freePort, killTree, waitFor } from '../helpers/spawn-server.ts';

const MODEL = bytes(300 * 1024, 7); // LFS in the fake (over 10 KiB): sha256-verified, resumable
const FILES = {
  'config.json': JSON.stringify({ model_type: 'bert', hidden_size: 8 }),
  'tokenizer.json': bytes(3 * 1024, 3).toString('base64'),
  'README.md': '# tiny\n',
  'onnx/model.onnx': MODEL,
};

/** Every file below `dir`, relative, `/`-separated. */
function filesIn(dir: string, sub = ''): string[] {
  if (!existsSync(join(dir, sub))) return [];
  return readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesIn(dir, join(sub, d.name)) : [join(sub, d.name).split('\\').join('/')],
  );
}

/** A failure is one line on stderr and a non-zero exit. */
function expectOneLineError(run: CliRun, pattern: RegExp): void {
  expect(run.code, run.stdout + run.stderr).not.toBe(0);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

let work: string;
let hub: FakeHub;
let env: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ovserve-cli-'));
  hub = await startFakeHub();
  env = { HF_ENDPOINT: hub.url };
  hub.addRepo('acme/tiny', FILES);
});
afterAll(async () => {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

describe('ovserve --help / --version', () => {
  it('lists the commands, and each command has its own help', async () => {
    const [top, pull, models, serve] = await Promise.all([runCli(['--help']), runCli(['pull', '--help']), runCli(['models', '--help']), runCli(['serve', '--help'])]);
    expect(top.code).toBe(0);
    for (const word of ['serve', 'pull', 'models', '--version', 'HF_ENDPOINT']) expect(top.stdout).toContain(word);
    expect(pull.code).toBe(0);
    for (const word of ['--include', '--dir', 'models/<org>--<name>', 'HF_TOKEN']) expect(pull.stdout).toContain(word);
    expect(models.code).toBe(0);
    expect(models.stdout).toContain('--config');
    expect(serve.code).toBe(0);
    for (const word of ['--port', '--host', '--route', '--grpc-port', '--api-key', 'OVSERVE_DRAIN_TIMEOUT_S', 'OVSERVE_CORS_ORIGINS', 'embeddings']) expect(serve.stdout).toContain(word);
  });

  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(PROJECT_DIR, 'package.json'), 'utf8')) as { version: string };
    const run = await runCli(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });

  it('refuses an unknown command or option with one line and exit 2', async () => {
    const unknown = await runCli(['fly']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('unknown command "fly"');
    const option = await runCli(['pull', 'acme/tiny', '--bogus']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('--bogus');
  });
});

describe('ovserve pull', () => {
  it('downloads every file into models/<org>--<name> with the right bytes, and keeps them on a second run', async () => {
    const cwd = join(work, 'default-dir');
    mkdirSync(cwd);
    const run = await runCli(['pull', 'acme/tiny'], { env, cwd });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const dir = join(cwd, 'models', 'acme--tiny');
    expect(filesIn(dir).sort()).toEqual(Object.keys(FILES).sort());
    for (const [path, content] of Object.entries(FILES)) expect(readFileSync(join(dir, path)).equals(Buffer.from(content))).toBe(true);
    expect(run.stdout).toMatch(/pulled acme\/tiny@[0-9a-f]{12} into models\/acme--tiny: 4 file\(s\)/);

    const before = hub.downloads('acme/tiny', 'onnx/model.onnx').length;
    const again = await runCli(['pull', 'acme/tiny'], { env, cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('(0 fetched, 4 already in place)');
    expect(hub.downloads('acme/tiny', 'onnx/model.onnx')).toHaveLength(before);
  });

  it('--include takes only the matching files; a pattern that matches none is an error', async () => {
    const dir = join(work, 'include');
    const run = await runCli(['pull', 'acme/tiny', '--include', '*.json', '--include', 'README.md', '--dir', dir], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(filesIn(dir).sort()).toEqual(['README.md', 'config.json', 'tokenizer.json']);
    expectOneLineError(await runCli(['pull', 'acme/tiny', '--include', 'onnx/missing.onnx', '--dir', dir], { env }), /no file matches --include onnx\/missing\.onnx/);
  });

  it('resumes a .part left by an earlier run with a Range request', async () => {
    const dir = join(work, 'resume-part');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    writeFileSync(join(dir, 'onnx', 'model.onnx.part'), MODEL.subarray(0, 100_000));
    const before = hub.downloads('acme/tiny', 'onnx/model.onnx').length;
    const run = await runCli(['pull', 'acme/tiny', '--include', 'onnx/*', '--dir', dir], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(hub.downloads('acme/tiny', 'onnx/model.onnx').slice(before)).toEqual(['bytes=100000-']);
    expect(run.stdout).toContain('resuming at');
    expect(sha256(readFileSync(join(dir, 'onnx', 'model.onnx')))).toBe(sha256(MODEL));
    expect(existsSync(join(dir, 'onnx', 'model.onnx.part'))).toBe(false);
  });

  it('a connection dropped mid-file is retried from where it stopped', async () => {
    const dir = join(work, 'resume-drop');
    hub.dropOnce('acme/tiny', 'onnx/model.onnx', 50_000);
    const before = hub.downloads('acme/tiny', 'onnx/model.onnx').length;
    const run = await runCli(['pull', 'acme/tiny', '--dir', dir], { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const ranges = hub.downloads('acme/tiny', 'onnx/model.onnx').slice(before);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(50_000);
    expect(run.stdout).toContain('retrying');
    expect(sha256(readFileSync(join(dir, 'onnx', 'model.onnx')))).toBe(sha256(MODEL));
  });

  it('refuses a download whose bytes do not match the checksum, and leaves no file behind', async () => {
    hub.addRepo('acme/bad', FILES);
    hub.corrupt('acme/bad', 'onnx/model.onnx');
    hub.corrupt('acme/bad', 'config.json');
    const dir = join(work, 'corrupt');
    const lfs = await runCli(['pull', 'acme/bad', '--include', 'onnx/model.onnx', '--dir', dir], { env });
    expectOneLineError(lfs, /onnx\/model\.onnx: sha256 mismatch \(expected [0-9a-f]{64}, got [0-9a-f]{64}\); the download was deleted/);
    expect(filesIn(dir)).toEqual([]);
    const small = await runCli(['pull', 'acme/bad', '--include', 'config.json', '--dir', dir], { env });
    expectOneLineError(small, /config\.json: git blob sha1 mismatch/);
    expect(filesIn(dir)).toEqual([]);
  });

  it('a missing repo, revision or file is one line and a non-zero exit', async () => {
    const dir = join(work, 'missing');
    hub.addRepo('acme/holes', FILES);
    hub.hideOnResolve('acme/holes', 'tokenizer.json');
    const [repo, revision, file, name] = await Promise.all([
      runCli(['pull', 'acme/nope', '--dir', dir], { env }),
      runCli(['pull', 'acme/tiny@v9', '--dir', dir], { env }),
      runCli(['pull', 'acme/holes', '--dir', dir], { env }),
      runCli(['pull', 'not a repo', '--dir', dir], { env }),
    ]);
    expectOneLineError(repo, /^ovserve pull: acme\/nope@main: not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\); set HF_TOKEN/);
    expectOneLineError(revision, /acme\/tiny@v9: revision not found/);
    expectOneLineError(file, /acme\/holes@main: tokenizer\.json: file not found \(HTTP 404\)/);
    expectOneLineError(name, /invalid repo/);
  });

  it('sends HF_TOKEN as Authorization on every request for a private repo', async () => {
    hub.addRepo('acme/private', FILES, { token: 'hf_secret' });
    const dir = join(work, 'private');
    expectOneLineError(await runCli(['pull', 'acme/private', '--dir', dir], { env }), /acme\/private@main: not found .*set HF_TOKEN/);
    const before = hub.requests.length;
    const run = await runCli(['pull', 'acme/private', '--dir', dir], { env: { ...env, HF_TOKEN: 'hf_secret' } });
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(join(dir, 'onnx', 'model.onnx')).equals(MODEL)).toBe(true);
    const mine = hub.requests.slice(before).filter((r) => r.path.includes('acme/private'));
    expect(mine.length).toBeGreaterThan(5);
    expect(mine.filter((r) => r.headers.authorization !== 'Bearer hf_secret').map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });
});

describe('ovserve models', () => {
  it('tables the config and exits 1 when a folder is incomplete', async () => {
    const dir = join(work, 'models-cmd');
    copyFixture('tiny-embed', join(dir, 'good'));
    mkdirSync(join(dir, 'partial', 'onnx'), { recursive: true });
    writeFileSync(join(dir, 'partial', 'config.json'), '{}');
    writeFileSync(join(dir, 'partial', 'onnx', 'model.onnx.part'), 'x');
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({
      models: [
        { name: 'good', task: 'embeddings', path: 'good', backend: 'onnxruntime' },
        { name: 'partial', task: 'rerank', path: 'partial', source: 'hf:acme/partial' },
        { name: 'pictures', task: 'text-to-image', path: 'nowhere' },
      ],
    }));
    const run = await runCli(['models', '--config', config]);
    expect(run.code).toBe(1);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+TASK\s+BACKEND\s+PATH\s+SOURCE\s+STATUS$/);
    expect(lines.find((l) => l.startsWith('good '))).toMatch(/embeddings\s+onnxruntime\s+.*good\s+-\s+complete$/);
    const partial = lines.find((l) => l.startsWith('partial '));
    expect(partial).toMatch(/rerank\s+auto\s+.*hf:acme\/partial\s+incomplete: missing tokenizer\.json, model file .*, onnx\/model\.onnx \(unfinished download\)/);
    expect(lines.find((l) => l.startsWith('pictures '))).toMatch(/text-to-image .*incomplete: missing the folder itself/);
    expect(run.stdout).toContain('2 of 3 model folder(s) incomplete');

    writeFileSync(config, JSON.stringify({ models: [{ name: 'good', task: 'embeddings', path: 'good' }] }));
    const complete = await runCli(['models', '--config', config]);
    expect(complete.code, complete.stdout).toBe(0);
  });

  it('knows a diffusers pipeline folder', async () => {
    const dir = join(work, 'models-sd');
    copyFixture('tiny-sd', join(dir, 'sd'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ models: [{ name: 'sd', task: 'text-to-image', path: 'sd' }] }));
    expect((await runCli(['models', '--config', config])).code).toBe(0);
    rmSync(join(dir, 'sd', 'unet', 'model.onnx'));
    const run = await runCli(['models', '--config', config]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/incomplete: missing unet\/model file/);
  });
});

describe('ovserve serve with a source: hf: model', () => {
  it('pulls the missing folder, then serves it; SIGTERM reaches the server itself, which drains', async () => {
    // Besides the fixture, weights in formats this model does not load: they are not pulled.
    const decoys = { 'pytorch_model.bin': bytes(20_000, 1), 'model.safetensors': bytes(20_000, 2), 'onnx/model_quantized.onnx': bytes(20_000, 3) };
    hub.addRepo('acme/tiny-embed', { ...readFolder(fixturePath('tiny-embed')), ...decoys, 'README.md': '# tiny\n' });
    const dir = join(work, 'serve-source');
    mkdirSync(dir);
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ models: [{ name: 'pulled', task: 'embeddings', path: 'pulled', source: 'hf:acme/tiny-embed' }] }));
    const port = await freePort();
    const childEnv: NodeJS.ProcessEnv = { ...process.env, HF_ENDPOINT: hub.url };
    delete childEnv.HF_TOKEN;
    const child = spawn(process.execPath, [BIN, 'serve', '--config', config, '--port', String(port)], { cwd: PROJECT_DIR, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the server to be ready', async () => {
        if (child.exitCode !== null) throw new Error(`serve exited early:\n${output}`);
        try {
          return (await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status === 200;
        } catch {
          return false;
        }
      }, 60_000);
      expect(output).toMatch(/pulled: pulled hf:acme\/tiny-embed \(commit [0-9a-f]{12}, 6 of 6 file\(s\) fetched, .*\) into .*pulled in \d+ ms; it lacked the folder itself/);
      expect(readFileSync(join(dir, 'pulled', 'onnx', 'model.onnx')).equals(readFileSync(join(fixturePath('tiny-embed'), 'onnx', 'model.onnx')))).toBe(true);
      expect(filesIn(join(dir, 'pulled')).sort()).toEqual(Object.keys(readFolder(fixturePath('tiny-embed'))).sort());
      const models = (await (await fetch(`http://127.0.0.1:${port}/v3/models`)).json()) as { data: Array<{ id: string }> };
      expect(models.data.map((m) => m.id)).toEqual(['pulled']);
      const embed = await fetch(`http://127.0.0.1:${port}/v3/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'pulled', input: 'hello' }) });
      expect(embed.status).toBe(200);

      // No wrapper: the process we started is the server (tsx registered in-process).
      expect(commandLine(child.pid!)).toContain('bin.mjs');
      expect(descendants(child.pid!).map(commandLine).filter((c) => c.includes('wrangler-free-local'))).toEqual([]);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('SIGTERM: draining');
      expect(output).toContain('drained; exiting');
    } finally {
      if (child.exitCode === null) killTree([child.pid!, ...descendants(child.pid!)]);
    }
  });
});
