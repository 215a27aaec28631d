// A local stand-in for the Hugging Face hub on 127.0.0.1: the endpoints @huggingface/hub's
// modelInfo / listFiles / fileDownloadInfo call and the resolve URLs (with an LFS redirect to a
// "CDN" path, ETags, x-repo-commit and HTTP Range), recording every request; faults on demand.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

/** Files above this many bytes are stored as LFS (sha256 oid, resolve redirects to the CDN). */
const LFS_ABOVE = 10 * 1024;

export interface HubRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

interface RepoFile {
  content: Buffer;
  /** git blob id (sha1 of "blob <size>\0" + content). */
  oid: string;
  sha256: string;
  lfs: boolean;
}

interface Repo {
  commit: string;
  files: Map<string, RepoFile>;
  /** Every request must carry `Authorization: Bearer <token>` (401 otherwise, as the hub answers a private repo). */
  token?: string;
}

export interface FakeHub {
  url: string;
  requests: HubRequest[];
  /** Adds (or replaces) a repo; returns its commit id. */
  addRepo(name: string, files: Record<string, Buffer | string>, options?: { token?: string }): string;
  /** The next download of `path` (not a 0-0 probe) sends `bytes` bytes, then drops the connection 300 ms later. */
  dropOnce(repo: string, path: string, bytes: number): void;
  /** Serves different bytes of the same length for `path`; the listing keeps the real checksum. */
  corrupt(repo: string, path: string): void;
  /** The tree lists `path` but resolving it answers 404 EntryNotFound. */
  hideOnResolve(repo: string, path: string): void;
  /** The Range header of each byte download of `path` that got the bytes (a GET, not the 0-0 probe). */
  downloads(repo: string, path: string): Array<string | undefined>;
  close(): Promise<void>;
}

/** Every file under `dir` (relative path -> bytes), for serving a built fixture as a repo. */
export function readFolder(dir: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (sub: string) => {
    for (const name of readdirSync(sub)) {
      const abs = join(sub, name);
      if (name.startsWith('.')) continue; // caches beside the model
      if (statSync(abs).isDirectory()) walk(abs);
      else out[relative(dir, abs).split(sep).join('/')] = readFileSync(abs);
    }
  };
  walk(dir);
  return out;
}

/** Deterministic pseudo-random bytes (so the test files differ from each other and from zeros). */
export function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

function gitOid(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** `bytes=S-` or `bytes=S-E` against a file of `size` bytes; undefined for no (or an unusable) Range. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export async function startFakeHub(): Promise<FakeHub> {
  const repos = new Map<string, Repo>();
  const requests: HubRequest[] = [];
  const drops = new Map<string, number>();
  const corrupted = new Set<string>();
  const hidden = new Set<string>();
  const served: Array<{ key: string; range: string | undefined }> = [];
  let commits = 0;

  /** The bytes of a file with Range, ETag and the hub's linked headers. */
  function sendFile(req: http.IncomingMessage, res: http.ServerResponse, key: string, repo: Repo, file: RepoFile): void {
    const content = corrupted.has(key) ? Buffer.from(file.content.map((b, i) => (i === Math.floor(file.content.length / 2) ? b ^ 0xff : b))) : file.content;
    const range = parseRange(req.headers.range, content.length);
    const common = {
      'Accept-Ranges': 'bytes',
      ETag: `"${file.lfs ? file.sha256 : file.oid}"`,
      'X-Repo-Commit': repo.commit,
      'Content-Type': 'application/octet-stream',
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'Content-Range': `bytes */${content.length}` });
      res.end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: content.length - 1 };
    const body = content.subarray(start, end + 1);
    res.writeHead(range ? 206 : 200, {
      ...common,
      'Content-Length': String(body.length),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${content.length}` } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (req.headers.range !== 'bytes=0-0') served.push({ key, range: req.headers.range });
    const drop = req.headers.range === 'bytes=0-0' ? undefined : drops.get(key);
    if (drop !== undefined && drop < body.length) {
      drops.delete(key);
      // The drop comes a moment after the bytes, as a stalled link's would: a client reads what
      // arrived before the error (a web stream's error discards the chunks not yet read).
      res.write(body.subarray(0, drop), () => setTimeout(() => res.socket?.destroy(), 300));
      return;
    }
    res.end(body);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    requests.push({ method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), headers: req.headers });
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const repoNotFound = () => json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    const findRepo = (name: string): Repo | undefined => {
      const repo = repos.get(name);
      if (repo?.token && req.headers.authorization !== `Bearer ${repo.token}`) return undefined;
      return repo;
    };
    const revisionOk = (repo: Repo, rev: string) => rev === 'main' || rev === repo.commit;

    // GET /api/models/{org}/{name}/revision/{rev}: the model's info at a revision (sha among it).
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'revision') {
      const name = `${parts[2]}/${parts[3]}`;
      const repo = findRepo(name);
      if (!repo) return repos.has(name) ? json(res, 401, { error: 'Invalid credentials in Authorization header' }) : repoNotFound();
      const rev = parts.slice(5).join('/');
      if (!revisionOk(repo, rev)) return json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'X-Error-Code': 'RevisionNotFound' });
      return json(res, 200, { _id: 'x', id: name, sha: repo.commit, private: Boolean(repo.token), lastModified: '2025-01-01T00:00:00.000Z', siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) });
    }

    // GET /api/models/{org}/{name}/tree/{rev}?recursive=true: directories and files, the hub's shape.
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'tree') {
      const name = `${parts[2]}/${parts[3]}`;
      const repo = findRepo(name);
      if (!repo) return repoNotFound();
      if (!revisionOk(repo, parts[5] ?? '')) return json(res, 404, { error: 'Invalid rev id' }, { 'X-Error-Code': 'RevisionNotFound' });
      const dirs = new Set<string>();
      for (const path of repo.files.keys()) {
        const segments = path.split('/');
        for (let i = 1; i < segments.length; i++) dirs.add(segments.slice(0, i).join('/'));
      }
      const entries = [
        ...[...dirs].map((path) => ({ type: 'directory', oid: '0'.repeat(40), size: 0, path })),
        ...[...repo.files].map(([path, f]) => ({
          type: 'file',
          oid: f.lfs ? gitOid(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${f.sha256}\nsize ${f.content.length}\n`)) : f.oid,
          size: f.content.length,
          path,
          ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
        })),
      ];
      return json(res, 200, entries);
    }

    // GET /cdn/{org}/{name}/{path}: where an LFS file's resolve redirects.
    if (parts[0] === 'cdn') {
      const name = `${parts[1]}/${parts[2]}`;
      const repo = repos.get(name);
      const path = parts.slice(3).join('/');
      const file = repo?.files.get(path);
      if (!repo || !file) return json(res, 404, { error: 'not found' });
      return sendFile(req, res, `${name}:${path}`, repo, file);
    }

    // GET|HEAD /{org}/{name}/resolve/{rev}/{path}
    if (parts[2] === 'resolve') {
      const name = `${parts[0]}/${parts[1]}`;
      const repo = findRepo(name);
      if (!repo) return repoNotFound();
      if (!revisionOk(repo, parts[3] ?? '')) return json(res, 404, { error: 'Invalid rev id' }, { 'X-Error-Code': 'RevisionNotFound' });
      const path = parts.slice(4).join('/');
      const file = repo.files.get(path);
      const key = `${name}:${path}`;
      if (!file || hidden.has(key)) return json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
      if (file.lfs) {
        res.writeHead(302, {
          Location: `/cdn/${name}/${path.split('/').map(encodeURIComponent).join('/')}`,
          'X-Linked-Etag': `"${file.sha256}"`,
          'X-Linked-Size': String(file.content.length),
          'X-Repo-Commit': repo.commit,
          ETag: `"${file.oid}"`,
        });
        res.end();
        return;
      }
      return sendFile(req, res, key, repo, file);
    }
    json(res, 404, { error: 'no such endpoint' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addRepo(name, files, options = {}) {
      const commit = createHash('sha1').update(`${name}:${++commits}`).digest('hex');
      const map = new Map<string, RepoFile>();
      for (const [path, value] of Object.entries(files)) {
        const content = typeof value === 'string' ? Buffer.from(value) : value;
        map.set(path, { content, oid: gitOid(content), sha256: sha256(content), lfs: content.length > LFS_ABOVE });
      }
      repos.set(name, { commit, files: map, ...(options.token ? { token: options.token } : {}) });
      return commit;
    },
    dropOnce: (repo, path, n) => void drops.set(`${repo}:${path}`, n),
    corrupt: (repo, path) => void corrupted.add(`${repo}:${path}`),
    hideOnResolve: (repo, path) => void hidden.add(`${repo}:${path}`),
    downloads: (repo, path) => served.filter((s) => s.key === `${repo}:${path}`).map((s) => s.range),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
