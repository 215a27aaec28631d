// HOST as a list: one port on every address, drained together; the default serves both loopback
// families (so `curl localhost:8000` works where localhost resolves to ::1 first), and a default
// address the machine lacks is skipped with a log line, while a named one is an error.
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { hostsOf, serve, type ServedServer } from '../../wrangler-free-local/serve.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';

const config = fixtureConfig([{ fixture: 'tiny-embed', task: 'embeddings' }]);

/** A GET with its own Host header (fetch would not send one). */
function statusWithHost(host: string, port: number, path: string, hostHeader: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host, port, path, headers: { Host: hostHeader } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

describe('listening hosts', () => {
  const opened: ServedServer[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close({ timeoutMs: 1000 })));
  });

  it('HOST is a comma-separated list; unset, both loopback families with ::1 optional', () => {
    expect(hostsOf(undefined)).toEqual({ host: ['127.0.0.1', '::1'], optionalHosts: ['::1'] });
    expect(hostsOf('0.0.0.0, ::')).toEqual({ host: ['0.0.0.0', '::'], optionalHosts: [] });
    expect(() => hostsOf('[::1]')).toThrow(/IPv6 without brackets/);
  });

  it('serves one port on 127.0.0.1 and ::1, and the Host check still guards both', async () => {
    const lines: string[] = [];
    const running = await serve({ config, port: 0, ...hostsOf(undefined), log: (l) => lines.push(l) });
    opened.push(running);
    await running.ready;
    expect(running.urls).toEqual([`http://127.0.0.1:${running.port}`, `http://[::1]:${running.port}`]);
    for (const url of running.urls) expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
    const embedded = await fetch(`http://[::1]:${running.port}/v3/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'tiny-embed', input: 'hi' }) });
    expect(embedded.status).toBe(200);
    // Both addresses are loopback, so a foreign Host name is refused on either.
    for (const address of ['127.0.0.1', '::1']) {
      expect(await statusWithHost(address, running.port, '/v3/models', 'attacker.example')).toBe(403);
      expect(await statusWithHost(address, running.port, '/v3/models', `localhost:${running.port}`)).toBe(200);
    }
    expect(lines.some((l) => l.includes(`ovserve listening on http://127.0.0.1:${running.port}, http://[::1]:${running.port}`))).toBe(true);
  });

  it('skips an optional address the machine lacks, and fails on a named one', async () => {
    const lines: string[] = [];
    // 192.0.2.1 (TEST-NET-1) is assigned to no interface here.
    const running = await serve({ config, port: 0, host: ['127.0.0.1', '192.0.2.1'], optionalHosts: ['192.0.2.1'], log: (l) => lines.push(l) });
    opened.push(running);
    expect(running.urls).toEqual([`http://127.0.0.1:${running.port}`]);
    expect(lines).toContain('not listening on 192.0.2.1: EADDRNOTAVAIL (no such address here)');
    await expect(serve({ config, port: 0, host: ['127.0.0.1', '192.0.2.1'], log: () => {} })).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
  });

  it('drains every address on close', async () => {
    const running = await serve({ config, port: 0, ...hostsOf(undefined), log: () => {} });
    await running.ready;
    await running.close({ timeoutMs: 1000 });
    for (const url of running.urls) await expect(fetch(`${url}/v2/health/live`)).rejects.toThrow();
  });
});
