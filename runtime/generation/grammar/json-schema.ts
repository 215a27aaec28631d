// Makes a JSON schema one the grammar engine enforces exactly, or refuses it naming the keyword.
// Measured on xgrammar's WASM build 0.1.27: it ignores multipleOf, uniqueItems, not, if/then,
// contains and allOf with several parts (any JSON passes), aborts its WASM module on
// minProperties, treats oneOf as anyOf, lets control characters into strings with
// minLength/maxLength (invalid JSON) and builds broken number ranges (a bounded `number` admits
// "1<any character>5", an exclusive bound admits the bound). So keywords it cannot enforce are
// refused, and the two it mishandles are rewritten into forms it gets right:
// - a string's length bounds become a pattern of JSON-safe characters (no quote, backslash or
//   control character), so every output is valid JSON of the right length;
// - a bounded number becomes an integer range when one fits (integers are numbers), else a short
//   list of evenly spaced decimals inside the bounds.
// Pure: the input is not modified.
import { RuntimeError } from '../../errors.ts';

type Schema = boolean | Record<string, unknown>;

/** Keywords no output of the engine is guaranteed to satisfy. */
const UNENFORCEABLE = [
  'multipleOf',
  'uniqueItems',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'minContains',
  'maxContains',
  'dependentSchemas',
  'dependentRequired',
  'dependencies',
  'patternProperties',
  'propertyNames',
  'minProperties',
  'maxProperties',
  'unevaluatedProperties',
  'unevaluatedItems',
  'additionalItems',
  '$dynamicRef',
  '$recursiveRef',
];

/** String formats whose grammar matches what validators accept (the engine's date grammars allow Feb 31). */
const FORMATS = new Set(['uuid']);

/** Subschema positions: keyword -> how its value holds schemas. */
const SINGLE = ['items', 'additionalProperties'];
const LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const MAPS = ['properties', '$defs', 'definitions'];

/**
 * Printable ASCII but the quote and backslash: one byte, one code point and valid JSON as it is
 * (the engine's repetition counts bytes of other characters, so they could overrun maxLength).
 */
const JSON_SAFE_CHAR = '[ !#-\\[\\]-~]';

export function enforceableSchema(schema: unknown, param: string): Schema {
  const refuse = (path: string, keyword: string, why: string) =>
    new RuntimeError('invalid_request', `The JSON schema keyword '${keyword}' (at ${path || '/'}) ${why}; remove it or use a schema without it.`, { param });

  function walk(node: unknown, path: string): Schema {
    if (typeof node === 'boolean') return node;
    if (node === null || typeof node !== 'object' || Array.isArray(node)) throw refuse(path, 'schema', 'is not a schema object');
    const src = node as Record<string, unknown>;
    for (const keyword of UNENFORCEABLE) if (keyword in src) throw refuse(path, keyword, 'cannot be enforced by the grammar engine');
    if (Array.isArray(src.allOf) && src.allOf.length > 1) throw refuse(path, 'allOf', 'with more than one schema cannot be enforced by the grammar engine');
    const out: Record<string, unknown> = { ...src };
    for (const key of SINGLE) if (typeof src[key] === 'object' || typeof src[key] === 'boolean') out[key] = walk(src[key], `${path}/${key}`);
    for (const key of LISTS) {
      if (src[key] === undefined) continue;
      if (!Array.isArray(src[key])) throw refuse(path, key, 'must be a list of schemas');
      out[key] = (src[key] as unknown[]).map((s, i) => walk(s, `${path}/${key}/${i}`));
    }
    for (const key of MAPS) {
      const map = src[key];
      if (map === undefined) continue;
      if (map === null || typeof map !== 'object') throw refuse(path, key, 'must be an object of schemas');
      out[key] = Object.fromEntries(Object.entries(map).map(([k, s]) => [k, walk(s, `${path}/${key}/${k}`)]));
    }
    if (Array.isArray(src.oneOf) && !disjointTypes(src.oneOf)) {
      throw refuse(path, 'oneOf', "is enforced only when each option has its own 'type' (a value matching two options would break oneOf); use anyOf");
    }
    if (src.format !== undefined && !FORMATS.has(String(src.format))) throw refuse(path, 'format', `'${String(src.format)}' cannot be enforced by the grammar engine (only ${[...FORMATS].join(', ')})`);
    rewriteStringLength(src, out, path, refuse);
    rewriteNumberBounds(src, out, path, refuse);
    return out;
  }
  return walk(schema, '');
}

type Refuse = (path: string, keyword: string, why: string) => RuntimeError;

function rewriteStringLength(src: Record<string, unknown>, out: Record<string, unknown>, path: string, refuse: Refuse): void {
  if (src.minLength === undefined && src.maxLength === undefined) return;
  if (src.pattern !== undefined || src.format !== undefined) throw refuse(path, src.minLength !== undefined ? 'minLength' : 'maxLength', "together with 'pattern' or 'format' cannot be enforced by the grammar engine");
  const min = lengthBound(src.minLength, 0);
  const max = src.maxLength === undefined ? '' : String(lengthBound(src.maxLength, 0));
  delete out.minLength;
  delete out.maxLength;
  out.pattern = `^${JSON_SAFE_CHAR}{${min},${max}}$`;
}

const lengthBound = (value: unknown, fallback: number) => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : fallback);

const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;

function rewriteNumberBounds(src: Record<string, unknown>, out: Record<string, unknown>, path: string, refuse: Refuse): void {
  const present = BOUNDS.filter((k) => src[k] !== undefined);
  if (present.length === 0) return;
  for (const k of present) if (typeof src[k] !== 'number' || !Number.isFinite(src[k])) throw refuse(path, k, 'must be a finite number');
  if (src.type === 'integer') return; // integer ranges the engine builds correctly
  if (src.type !== 'number') throw refuse(path, present[0] as string, "is enforced only on a schema whose type is 'number' or 'integer'");
  const num = (k: (typeof BOUNDS)[number]) => src[k] as number | undefined;
  // The tightest lower and upper bounds, and whether each is exclusive.
  const lower = tighter(num('minimum'), num('exclusiveMinimum'), Math.max);
  const upper = tighter(num('maximum'), num('exclusiveMaximum'), Math.min);
  for (const k of BOUNDS) delete out[k];
  const lo = lower === undefined ? undefined : lower.exclusive ? Math.floor(lower.value) + 1 : Math.ceil(lower.value);
  const hi = upper === undefined ? undefined : upper.exclusive ? Math.ceil(upper.value) - 1 : Math.floor(upper.value);
  if (lo === undefined || hi === undefined || lo <= hi) {
    out.type = 'integer';
    if (lo !== undefined) out.minimum = lo;
    if (hi !== undefined) out.maximum = hi;
    return;
  }
  // No integer inside: decimals strictly inside the interval, shortest exact form each.
  const a = (lower as Bound).value;
  const b = (upper as Bound).value;
  const inside = [0.25, 0.5, 0.75].map((f) => a + (b - a) * f).filter((x) => x > a && x < b && Number.isFinite(x));
  const values = [...new Set(inside.map(shortestInside(a, b)))];
  if (values.length === 0) throw refuse(path, present[0] as string, 'leaves no number between the bounds');
  delete out.type;
  out.enum = values;
}

interface Bound {
  value: number;
  exclusive: boolean;
}

function tighter(inclusive: number | undefined, exclusive: number | undefined, pick: (a: number, b: number) => number): Bound | undefined {
  if (inclusive === undefined) return exclusive === undefined ? undefined : { value: exclusive, exclusive: true };
  if (exclusive === undefined) return { value: inclusive, exclusive: false };
  const value = pick(inclusive, exclusive);
  return { value, exclusive: value === exclusive };
}

/** The shortest decimal rounding of x that stays strictly between a and b. */
const shortestInside = (a: number, b: number) => (x: number) => {
  for (let digits = 1; digits <= 17; digits++) {
    const y = Number(x.toPrecision(digits));
    if (y > a && y < b) return y;
  }
  return x;
};

/** True when every option names a type and no value can match two of them (integer is a number). */
function disjointTypes(options: unknown[]): boolean {
  const seen = new Set<string>();
  for (const option of options) {
    if (option === null || typeof option !== 'object') return false;
    const type = (option as Record<string, unknown>).type;
    const types = (Array.isArray(type) ? type : [type]).map(String);
    if (type === undefined || types.length === 0) return false;
    for (const t of types) {
      const family = t === 'integer' ? 'number' : t;
      if (seen.has(family)) return false;
      seen.add(family);
    }
  }
  return true;
}
