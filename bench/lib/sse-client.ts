// A streaming completions / chat client for benchmarks: records time to first token, time per output
// token and the usage the server reports. A chunk counts when it carries text or, with `logprobs`
// asked, tokens: a token whose bytes do not complete a character yet has no text, so without
// logprobs it shows up only with a later token (random weights write many such; one stream in a
// closed loop of 16 showed its first text 7 s after its first token).
import { Agent, request } from 'node:http';

export interface StreamTiming {
  ttftMs: number;
  /** Mean time between token-carrying chunks after the first. */
  tpotMs: number;
  completionTokens: number;
  /** When the request was sent, and when each chunk with text or tokens arrived (performance.now()). */
  started: number;
  chunks: number[];
}

export function createStreamPoster(baseUrl: string, sockets: number) {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  /** `onChunk` hears each text chunk's count as it arrives. */
  return (path: string, body: unknown, onChunk?: (count: number) => void): Promise<StreamTiming> =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body));
      const started = performance.now();
      const chunks: number[] = [];
      let completionTokens = 0;
      let buffered = '';
      const req = request(
        { host: url.hostname, port: url.port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            let end: number;
            while ((end = buffered.indexOf('\n\n')) >= 0) {
              const frame = buffered.slice(0, end);
              buffered = buffered.slice(end + 2);
              if (!frame.startsWith('data: ') || frame === 'data: [DONE]') continue;
              const data = JSON.parse(frame.slice(6)) as { choices: Array<{ text?: string; delta?: { content?: string }; logprobs?: { tokens?: string[] } | null }>; usage?: { completion_tokens: number } };
              if (data.usage) completionTokens = data.usage.completion_tokens;
              const choice = data.choices[0];
              if (choice?.text || choice?.delta?.content || (choice?.logprobs?.tokens?.length ?? 0) > 0) {
                chunks.push(performance.now());
                onChunk?.(chunks.length);
              }
            }
          });
          res.on('end', () => {
            const first = chunks[0] ?? NaN;
            const last = chunks.at(-1) ?? NaN;
            resolve({ ttftMs: first - started, tpotMs: chunks.length > 1 ? (last - first) / (chunks.length - 1) : NaN, completionTokens, started, chunks });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}
