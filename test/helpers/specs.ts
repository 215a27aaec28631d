// Validates real responses against the OpenAPI specs in ../shared/specs (OpenAI, Cohere, OIP REST).
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SHARED_DIR } from './paths.ts';

// ajv is CommonJS; under NodeNext its default export is the module object.
const Ajv2020 = Ajv2020Module.default;

const SPECS = {
  openai: 'openai-openapi.yaml',
  cohere: 'cohere-openapi.yaml',
  oip: 'open_inference_rest.yaml',
} as const;

export const specsAvailable = existsSync(join(SHARED_DIR, 'specs', SPECS.openai));

/** OpenAPI 3.0's `nullable: true` (still used in places) as JSON Schema: anyOf [schema, null]. */
function nullableToAnyOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableToAnyOf);
  if (!node || typeof node !== 'object') return node;
  const { nullable, ...rest } = node as Record<string, unknown>;
  const mapped = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, nullableToAnyOf(v)]));
  return nullable === true ? { anyOf: [mapped, { type: 'null' }] } : mapped;
}

let ajv: Ajv2020Module.default | undefined;
function instance(): Ajv2020Module.default {
  if (ajv) return ajv;
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  (addFormats as unknown as (a: unknown) => void)(ajv);
  for (const [id, file] of Object.entries(SPECS)) {
    const doc = parse(readFileSync(join(SHARED_DIR, 'specs', file), 'utf8')) as Record<string, unknown>;
    ajv.addSchema({ $id: id, components: nullableToAnyOf(doc.components), paths: nullableToAnyOf(doc.paths) }, id);
  }
  return ajv;
}

/** Validates `value` against `#/components/schemas/<name>` or any JSON pointer into the spec. */
export function specErrors(spec: keyof typeof SPECS, pointer: string, value: unknown): string[] {
  const ref = pointer.startsWith('#') ? pointer : `#/components/schemas/${pointer}`;
  const validate = instance().getSchema(`${spec}${ref}`);
  if (!validate) throw new Error(`no schema ${spec}${ref}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
