// A lean keep-alive HTTP client for load generation: node:http costs the shared CPU less than
// fetch, so more of the machine is left to the server being measured.
import { Agent, request } from 'node:http';

export function createJsonPoster(baseUrl: string, sockets: number) {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return (path: string, body: unknown): Promise<{ status: number; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body));
      const req = request(
        { host: url.hostname, port: url.port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}
