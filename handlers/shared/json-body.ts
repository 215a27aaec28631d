// Reads a request body as JSON without stalling the event loop on its size: small bodies are
// parsed in place, large ones (up to the body limit) are decoded and parsed in a worker thread and
// come back by structured clone, which costs the main thread a copy instead of a parse.
import { Worker } from 'node:worker_threads';

/** Bodies up to this size are parsed on the main thread (well under a millisecond). */
export const IN_PLACE_BYTES = 256 * 1024;

export type ParsedBody = { ok: true; value: unknown } | { ok: false; reason: 'syntax' | 'depth' };

/** How deep a parsed JSON value nests, counted without recursion (a hostile body cannot overflow it). */
export function depthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: value, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

/** Decode, parse and depth-check: the same steps in place and in the worker. */
function parse(bytes: Uint8Array, maxDepth: number): ParsedBody {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: false }).decode(bytes));
  } catch {
    return { ok: false, reason: 'syntax' };
  }
  // Checked before the value is cloned back: a structured clone of a very deep value recurses.
  return depthExceeds(value, maxDepth) ? { ok: false, reason: 'depth' } : { ok: true, value };
}

// The worker runs these same two functions: their source as loaded here is already JavaScript
// (this module is transpiled before it runs), so no TypeScript loader is needed in the worker.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
${depthExceeds.toString()}
${parse.toString()}
parentPort.on('message', ({ id, bytes, maxDepth }) => parentPort.postMessage({ id, result: parse(bytes, maxDepth) }));
`;

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, (result: ParsedBody) => void>();

function parser(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.on('message', ({ id, result }: { id: number; result: ParsedBody }) => {
    pending.get(id)?.(result);
    pending.delete(id);
    if (pending.size === 0) w.unref();
  });
  // A worker that dies fails what it held as unparseable and is replaced on next use.
  w.on('exit', () => {
    if (worker === w) worker = undefined;
    for (const done of pending.values()) done({ ok: false, reason: 'syntax' });
    pending.clear();
  });
  worker = w;
  return w;
}

/** The body's bytes as JSON, parsed where it keeps the event loop free. */
export function parseJsonBody(body: ArrayBuffer, maxDepth: number): Promise<ParsedBody> {
  if (body.byteLength <= IN_PLACE_BYTES) return Promise.resolve(parse(new Uint8Array(body), maxDepth));
  const w = parser();
  const id = nextId++;
  w.ref();
  return new Promise((resolve) => {
    pending.set(id, resolve);
    w.postMessage({ id, bytes: new Uint8Array(body), maxDepth }, [body]);
  });
}
