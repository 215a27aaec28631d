// The binary tensor extension's framing (KServe / Triton binary_tensor_data): a JSON header of
// Inference-Header-Content-Length bytes, then each binary tensor's raw bytes in order. Pure.
import { RuntimeError } from '../../runtime/index.ts';
import { depthExceeds } from '../shared/json-body.ts';
import { binaryDataSize, parseInferenceRequest, quoted, type InferenceRequest } from './wire.ts';

/** The header giving the JSON part's byte length, on requests and responses with binary data. */
export const HEADER_LENGTH_HEADER = 'Inference-Header-Content-Length';

/** Content-Type of a response that carries binary outputs (Triton's choice). */
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

/** Deepest nesting the JSON header may have: the same bound as JSON bodies (MAX_JSON_DEPTH). */
const MAX_HEADER_DEPTH = 64;

const invalid = (message: string) => new RuntimeError('invalid_request', message);

/**
 * The Inference-Header-Content-Length value as a byte count: decimal digits only (no sign,
 * fraction, exponent or hex, which Number() would accept).
 */
export function parseHeaderLength(value: string): number {
  const n = /^\s*\d{1,15}\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(`${HEADER_LENGTH_HEADER} must be a non-negative integer, got ${JSON.stringify(value.slice(0, 40))}`);
  return n;
}

/** A binary-extension request taken apart: the validated JSON header and each binary input's bytes. */
export interface BinaryRequest {
  request: InferenceRequest;
  /** The binary part of every input with binary_data_size, by input name (views into the body). */
  chunks: Map<string, Uint8Array>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits a binary-extension body: the first `headerLength` bytes are the JSON inference request
 * (parsed, depth-checked, schema-validated); the rest is the inputs' binary data, one
 * binary_data_size slice per such input, in input order, which must use up the rest exactly.
 * Throws invalid_request for a header length out of range, a header that is not UTF-8 JSON or
 * not an inference request, a binary input named twice, or sizes that do not add up.
 */
export function splitBinaryRequest(body: Uint8Array, headerLength: number): BinaryRequest {
  if (!Number.isSafeInteger(headerLength) || headerLength < 0) {
    throw invalid(`${HEADER_LENGTH_HEADER} must be a non-negative integer, got ${headerLength}`);
  }
  if (headerLength > body.length) {
    throw invalid(`${HEADER_LENGTH_HEADER} is ${headerLength} but the body has only ${body.length} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(body.subarray(0, headerLength)));
  } catch {
    throw invalid(`The JSON header (the first ${headerLength} bytes, per ${HEADER_LENGTH_HEADER}) is not valid UTF-8 JSON`);
  }
  if (depthExceeds(json, MAX_HEADER_DEPTH)) throw invalid(`The JSON header nests deeper than ${MAX_HEADER_DEPTH} levels`);
  const request = parseInferenceRequest(json);
  const chunks = new Map<string, Uint8Array>();
  let at = headerLength;
  for (const input of request.inputs) {
    const size = binaryDataSize(input);
    if (size === undefined) continue;
    if (chunks.has(input.name)) throw invalid(`input ${quoted(input.name)} appears more than once`);
    if (at + size > body.length) {
      throw invalid(`input ${quoted(input.name)}: binary_data_size ${size} runs past the end of the body (${body.length - at} bytes remain)`);
    }
    chunks.set(input.name, body.subarray(at, at + size));
    at += size;
  }
  if (at !== body.length) {
    throw invalid(`The body has ${body.length - at} bytes after the JSON header and binary inputs that no input's binary_data_size accounts for`);
  }
  return { request, chunks };
}

/** A response body with binary outputs, and the headers that frame it. */
export interface BinaryResponse {
  body: Uint8Array;
  /** Byte length of the JSON part: the Inference-Header-Content-Length value. */
  headerLength: number;
  /** Content-Type (application/octet-stream) and Inference-Header-Content-Length. */
  headers: Record<string, string>;
}

/** The JSON header (UTF-8) followed by each binary part in order, as one body. */
export function buildBinaryResponse(jsonHeader: object, binaries: readonly Uint8Array[]): BinaryResponse {
  const header = new TextEncoder().encode(JSON.stringify(jsonHeader));
  const body = new Uint8Array(binaries.reduce((n, b) => n + b.length, header.length));
  body.set(header, 0);
  let at = header.length;
  for (const part of binaries) {
    body.set(part, at);
    at += part.length;
  }
  return {
    body,
    headerLength: header.length,
    headers: { 'Content-Type': BINARY_CONTENT_TYPE, [HEADER_LENGTH_HEADER]: String(header.length) },
  };
}
