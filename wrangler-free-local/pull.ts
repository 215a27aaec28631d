// Pulls a Hugging Face model folder: @huggingface/hub resolves the revision, lists the files and
// reads their metadata; the bytes go to `<file>.part` over HTTP Range (so an interrupted download
// resumes), are checked against the sha256 (LFS) or the git blob id (small files), then renamed.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { open } from 'node:fs/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { fileDownloadInfo, HubApiError, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** Where repos are pulled from: HF_ENDPOINT (base URL) and HF_TOKEN in the CLI. */
export interface HubOptions {
  endpoint?: string;
  token?: string;
}

export interface RepoRef {
  repo: string;
  revision: string;
}

/** What a pull reports while it runs; the CLI draws a bar or writes lines, `serve` stays quiet. */
export interface PullProgress {
  /** The files to fetch (after --include) and the bytes of those already in place. */
  start(info: { repo: string; commit: string; files: number; bytes: number }): void;
  /** A file begins (at `from` when a `.part` is resumed). */
  file(path: string, size: number, from: number): void;
  advance(bytes: number): void;
  /** A file was already in place and verified. */
  present(path: string, size: number): void;
  /** A retry, a resume from the start, and the like. */
  note(line: string): void;
  stop(): void;
}

export const quietProgress: PullProgress = { start() {}, file() {}, advance() {}, present() {}, note() {}, stop() {} };

export interface PullOptions extends HubOptions {
  repo: string;
  revision?: string;
  dir: string;
  /** Shell-style patterns (`*` also crosses folders, as huggingface-cli's --include); all files when empty. */
  include?: readonly string[];
  /** Picks among the listed paths (after `include`), e.g. only what a task loads; a throw fails the pull. */
  select?: (paths: readonly string[]) => readonly string[];
  progress?: PullProgress;
  /** Attempts per file on network errors, 5xx and 429, each resuming the `.part` (default 4). */
  attempts?: number;
  /** Abort a transfer that receives nothing for this long (default 60 s); it is retried. */
  idleTimeoutMs?: number;
}

export interface PullResult {
  repo: string;
  commit: string;
  dir: string;
  files: number;
  /** Files fetched in this run; the rest were in place already. */
  downloaded: number;
  bytes: number;
}

/** A pull that cannot go on; its message is one line for the user. */
export class PullError extends Error {
  override name = 'PullError';
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/** `org/name[@revision]` (revision: a branch, tag or commit; default main). */
export function parseRepoRef(spec: string): RepoRef {
  const at = spec.indexOf('@');
  const repo = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? 'main' : spec.slice(at + 1);
  if (!REPO_ID.test(repo) || repo.includes('..')) throw new PullError(`invalid repo "${spec}"; use org/name or org/name@revision`);
  if (revision === '' || /\s/.test(revision)) throw new PullError(`invalid revision in "${spec}"`);
  return { repo, revision };
}

/** A config entry's `source`: `hf:org/name[@revision]`. */
export function parseSource(source: string): RepoRef {
  if (!source.startsWith('hf:')) throw new PullError(`unknown source "${source}"; use hf:org/name[@revision]`);
  return parseRepoRef(source.slice('hf:'.length));
}

/** The default target of `ovserve pull org/name`: models/org--name, relative to the current folder. */
export function defaultPullDir(repo: string): string {
  return join('models', repo.replace('/', '--'));
}

/** Shell-style glob: `*` any run of characters (slashes too), `?` one, `[...]` a class. */
export function globMatcher(pattern: string): (path: string) => boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += body.startsWith('!') ? `[^${body.slice(1)}]` : `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  const compiled = new RegExp(`^${re}$`);
  return (path) => compiled.test(path);
}

interface Expected {
  path: string;
  size: number;
  algorithm: 'sha256' | 'git-sha1';
  digest: string;
}

const ALGORITHM_NAME = { sha256: 'sha256', 'git-sha1': 'git blob sha1' } as const;

/** An ETag's hash: `"abc"` or `W/"abc"`; 64 hex digits are a sha256, 40 a git blob id. */
function digestFromEtag(etag: string | undefined): Pick<Expected, 'algorithm' | 'digest'> | undefined {
  const value = etag?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  if (value && /^[0-9a-f]{64}$/.test(value)) return { algorithm: 'sha256', digest: value };
  if (value && /^[0-9a-f]{40}$/.test(value)) return { algorithm: 'git-sha1', digest: value };
  return undefined;
}

/** The listing's checksum: the LFS sha256 for large files, the git blob id for the others. */
function digestFromListing(entry: ListFileEntry): Pick<Expected, 'algorithm' | 'digest'> | undefined {
  if (entry.lfs?.oid && /^[0-9a-f]{64}$/i.test(entry.lfs.oid)) return { algorithm: 'sha256', digest: entry.lfs.oid.toLowerCase() };
  if (!entry.lfs && entry.oid && /^[0-9a-f]{40}$/i.test(entry.oid)) return { algorithm: 'git-sha1', digest: entry.oid.toLowerCase() };
  return undefined;
}

function newHasher(file: Expected): Hash {
  if (file.algorithm === 'sha256') return createHash('sha256');
  // A git blob id is the sha1 of "blob <size>\0" followed by the content.
  return createHash('sha1').update(`blob ${file.size}\0`);
}

async function hashFile(path: string, hasher: Hash, end?: number): Promise<void> {
  if (end === 0) return;
  for await (const chunk of createReadStream(path, end === undefined ? {} : { end: end - 1 })) hasher.update(chunk as Buffer);
}

/** A request worth repeating: a network failure, a 5xx or 429, a short body. */
class Retryable extends Error {}

const delay = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** "cannot reach …" for fetch's own failures (refused, reset, DNS), with the underlying code. */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

interface Context {
  endpoint: string;
  token: string | undefined;
  repo: string;
  commit: string;
  progress: PullProgress;
  attempts: number;
  idleTimeoutMs: number;
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * The library's requests with the token: passed as a header rather than the library's
 * `accessToken` (which insists on the `hf_` prefix that a mirror's tokens need not have).
 */
function hubFetch(token: string | undefined): typeof fetch {
  if (!token) return fetch;
  return (input, init) => {
    const headers = new Headers(init?.headers);
    if (!headers.has('Authorization')) headers.set('Authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

function tokenHint(token: string | undefined): string {
  return token ? ' (HF_TOKEN is set: does it grant access?)' : '; set HF_TOKEN if it is private or gated';
}

/** One line for a failed hub API call about `what`. */
function hubError(err: unknown, what: string, ctx: { endpoint: string; token: string | undefined }): PullError {
  if (err instanceof PullError) return err;
  if (err instanceof HubApiError) {
    const detail = ((err.data as { error?: unknown } | undefined)?.error ?? '') as string;
    if (err.statusCode === 404 && /revision|rev id/i.test(String(detail))) return new PullError(`${what}: revision not found (HTTP 404)`);
    if (err.statusCode === 404 || err.statusCode === 401) return new PullError(`${what}: not found on ${ctx.endpoint} (HTTP ${err.statusCode})${tokenHint(ctx.token)}`);
    if (err.statusCode === 403) return new PullError(`${what}: access denied (HTTP 403)${tokenHint(ctx.token)}; a gated model's terms must be accepted on the hub first`);
    return new PullError(`${what}: the hub answered HTTP ${err.statusCode}${detail ? ` (${String(detail).split('\n')[0]})` : ''}`);
  }
  if (err instanceof TypeError && /fetch failed/.test(err.message)) return new PullError(`cannot reach ${ctx.endpoint}: ${networkReason(err)}`);
  return new PullError(`${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
}

/** `${endpoint}/${repo}/resolve/${commit}/${path}`, each path segment encoded. */
function resolveUrl(ctx: Context, path: string): string {
  return `${ctx.endpoint}/${ctx.repo}/resolve/${encodeURIComponent(ctx.commit)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** Brings `part` to the file's full size, resuming from its current size; returns its digest. */
async function transfer(ctx: Context, file: Expected, part: string): Promise<{ digest: string; from: number }> {
  let from = existsSync(part) ? statSync(part).size : 0;
  if (from > file.size) {
    rmSync(part, { force: true });
    from = 0;
  }
  if (from === file.size && from > 0) {
    // A part as long as the file: only its checksum is left to see.
    const hasher = newHasher(file);
    await hashFile(part, hasher);
    return { digest: hasher.digest('hex'), from };
  }
  const controller = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => controller.abort(new Error(`no data for ${ctx.idleTimeoutMs / 1000} s`)), ctx.idleTimeoutMs);
  };
  armIdle();
  try {
    let res: Response;
    try {
      res = await fetch(resolveUrl(ctx, file.path), {
        headers: { ...authHeaders(ctx.token), ...(from > 0 ? { Range: `bytes=${from}-` } : {}) },
        signal: controller.signal,
      });
    } catch (err) {
      throw new Retryable(`${file.path}: ${networkReason(err)}`);
    }
    if (res.status === 416) {
      // The part does not fit what the server has: start over.
      await res.body?.cancel();
      rmSync(part, { force: true });
      throw new Retryable(`${file.path}: the server refused to resume (HTTP 416); starting again from the beginning`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      const what = `${ctx.repo}@${ctx.commit.slice(0, 12)}: ${file.path}`;
      if (res.status >= 500 || res.status === 429) throw new Retryable(`${what}: HTTP ${res.status}`);
      if (res.status === 404) throw new PullError(`${what}: file not found (HTTP 404)`);
      if (res.status === 401 || res.status === 403) throw new PullError(`${what}: access denied (HTTP ${res.status})${tokenHint(ctx.token)}`);
      throw new PullError(`${what}: HTTP ${res.status}`);
    }
    if (res.status === 206) {
      const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== from) {
        await res.body?.cancel();
        throw new PullError(`${file.path}: the server answered a different range (${res.headers.get('content-range')}) than bytes=${from}-`);
      }
    } else if (from > 0) {
      ctx.progress.note(`${file.path}: the server ignored the Range request; downloading from the start`);
      from = 0; // a 200 is the whole file
    }
    const hasher = newHasher(file);
    await hashFile(part, hasher, from);
    ctx.progress.file(file.path, file.size, from);
    if (!res.body) throw new Retryable(`${file.path}: empty response`);
    // Each chunk is on disk before it is hashed and counted, so what an interrupted transfer leaves
    // in the part is exactly what arrived (a stream pipeline would drop its buffered writes).
    const out = await open(part, from > 0 ? 'a' : 'w');
    try {
      const chunks = (res.body as NodeReadableStream<Uint8Array>)[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (err) {
          const reason = controller.signal.aborted ? String((controller.signal.reason as Error | undefined)?.message ?? 'aborted') : networkReason(err);
          throw new Retryable(`${file.path}: interrupted after ${formatBytes(statSync(part).size)} (${reason})`);
        }
        if (next.done) break;
        armIdle();
        try {
          await out.write(next.value);
        } catch (err) {
          await res.body.cancel().catch(() => {});
          throw new PullError(`cannot write ${part}: ${(err as Error).message}`);
        }
        hasher.update(next.value);
        ctx.progress.advance(next.value.length);
      }
    } finally {
      await out.close();
    }
    const size = statSync(part).size;
    if (size < file.size) throw new Retryable(`${file.path}: the connection closed after ${size} of ${file.size} bytes`);
    return { digest: hasher.digest('hex'), from };
  } finally {
    clearTimeout(idle);
  }
}

/** Whether `dest` is already the file (its size and checksum). */
async function isInPlace(file: Expected, dest: string): Promise<boolean> {
  if (!existsSync(dest) || statSync(dest).size !== file.size) return false;
  const hasher = newHasher(file);
  await hashFile(dest, hasher);
  return hasher.digest('hex') === file.digest;
}

/** One file into `dest`: resumed, retried, verified; a file that fails verification is deleted. */
async function fetchFile(ctx: Context, file: Expected, dest: string): Promise<void> {
  const part = `${dest}.part`;
  mkdirSync(dirname(dest), { recursive: true });
  let restarted = false;
  for (let attempt = 1; ; attempt++) {
    let result: { digest: string; from: number };
    try {
      result = await transfer(ctx, file, part);
    } catch (err) {
      if (err instanceof Retryable && attempt < ctx.attempts) {
        ctx.progress.note(`${err.message}; retrying (${attempt + 1}/${ctx.attempts})`);
        await delay(Math.min(250 * 2 ** (attempt - 1), 4000));
        continue;
      }
      if (err instanceof Retryable) throw new PullError(`${err.message}; gave up after ${ctx.attempts} attempts (run pull again to resume)`);
      throw err;
    }
    if (statSync(part).size === file.size && result.digest === file.digest) {
      renameSync(part, dest);
      return;
    }
    const size = statSync(part).size;
    rmSync(part, { force: true });
    if (result.from > 0 && !restarted) {
      // The bytes kept from an earlier run may be the bad ones: one more try from the start.
      restarted = true;
      ctx.progress.note(`${file.path}: ${ALGORITHM_NAME[file.algorithm]} mismatch after resuming; downloading again from the start`);
      continue;
    }
    const why = size !== file.size ? `size mismatch (expected ${file.size} bytes, got ${size})` : `${ALGORITHM_NAME[file.algorithm]} mismatch (expected ${file.digest}, got ${result.digest})`;
    throw new PullError(`${file.path}: ${why}; the download was deleted`);
  }
}

/** The target path of a listed file, refusing any that would land outside `dir`. */
function targetOf(dir: string, path: string): string {
  const dest = resolve(dir, path);
  const rel = relative(dir, dest);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new PullError(`refusing file path "${path}" (outside the target folder)`);
  return dest;
}

/** Downloads the repo's files (those matching `include`) into `dir`; files in place are kept. */
export async function pullRepo(options: PullOptions): Promise<PullResult> {
  const endpoint = (options.endpoint || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const token = options.token || undefined;
  const revision = options.revision ?? 'main';
  const progress = options.progress ?? quietProgress;
  const dir = resolve(options.dir);
  const lib = { hubUrl: endpoint, fetch: hubFetch(token) };
  const label = `${options.repo}@${revision}`;

  let commit: string;
  try {
    commit = (await modelInfo({ name: options.repo, revision, additionalFields: ['sha'], ...lib })).sha;
  } catch (err) {
    throw hubError(err, label, { endpoint, token });
  }
  if (typeof commit !== 'string' || commit === '') throw new PullError(`${label}: the hub named no commit for this revision`);

  const patterns = (options.include ?? []).map(globMatcher);
  const listed: ListFileEntry[] = [];
  try {
    for await (const entry of listFiles({ repo: options.repo, revision: commit, recursive: true, ...lib })) {
      if (entry.type === 'file' && (patterns.length === 0 || patterns.some((match) => match(entry.path)))) listed.push(entry);
    }
  } catch (err) {
    throw hubError(err, label, { endpoint, token });
  }
  if (options.select && listed.length > 0) {
    let picked: Set<string>;
    try {
      picked = new Set(options.select(listed.map((e) => e.path)));
    } catch (err) {
      throw new PullError(`${label}: ${err instanceof Error ? err.message : String(err)}`);
    }
    listed.splice(0, listed.length, ...listed.filter((e) => picked.has(e.path)));
  }
  if (listed.length === 0) {
    throw new PullError(options.include?.length ? `${label}: no file matches --include ${options.include.join(' ')}` : `${label}: the repo has no files`);
  }

  const ctx: Context = { endpoint, token, repo: options.repo, commit, progress, attempts: Math.max(1, options.attempts ?? 4), idleTimeoutMs: options.idleTimeoutMs ?? 60_000 };
  const files: Expected[] = [];
  for (const entry of listed) {
    let info: Awaited<ReturnType<typeof fileDownloadInfo>>;
    try {
      info = await fileDownloadInfo({ repo: options.repo, path: entry.path, revision: commit, ...lib });
    } catch (err) {
      throw hubError(err, `${label}: ${entry.path}`, { endpoint, token });
    }
    if (!info) throw new PullError(`${label}: ${entry.path}: file not found (HTTP 404)`);
    const digest = digestFromListing(entry) ?? digestFromEtag(info.etag);
    if (!digest) throw new PullError(`${label}: ${entry.path}: the hub gave no sha256 or git blob id to verify it against`);
    const size = entry.lfs?.size ?? entry.size;
    if (info.size !== size) throw new PullError(`${label}: ${entry.path}: the listing says ${size} bytes, the file ${info.size}`);
    files.push({ path: entry.path, size, ...digest });
  }

  progress.start({ repo: options.repo, commit, files: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) });
  let downloaded = 0;
  try {
    for (const file of files) {
      const dest = targetOf(dir, file.path);
      if (await isInPlace(file, dest)) {
        progress.present(file.path, file.size);
        continue;
      }
      await fetchFile(ctx, file, dest);
      downloaded++;
    }
  } finally {
    progress.stop();
  }
  return { repo: options.repo, commit, dir, files: files.length, downloaded, bytes: files.reduce((sum, f) => sum + f.size, 0) };
}
