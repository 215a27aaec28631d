// Valibot building blocks every route's wire schema uses: range-checked finite numbers, objects
// that are not arrays, and maps keyed by token id that see prototype keys like any other key.
import * as v from 'valibot';

/** A finite number in [min, max]. JSON's 1e400 parses to Infinity and fails here. */
export const finiteBetween = (min: number, max: number) => v.pipe(v.number(), v.finite(), v.minValue(min), v.maxValue(max));

/** A finite number in (min, max]. */
export const finiteAbove = (min: number, max: number) => v.pipe(v.number(), v.finite(), v.gtValue(min), v.maxValue(max));

/** An integer in [min, max]; Number.MAX_SAFE_INTEGER when the API names no bound. */
export const integerBetween = (min: number, max = Number.MAX_SAFE_INTEGER) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** valibot's object schemas accept arrays (`typeof [] === 'object'`); wire objects never are. */
export const notArray = v.custom<Record<string, unknown>>(isRecord, 'must be an object');

/** A strict object (unknown keys are an error) that is not an array. */
export const wireObject = <E extends v.ObjectEntries>(entries: E) => v.pipe(notArray, v.strictObject(entries));

/** A loose object (other keys kept) that is not an array. */
export const looseWireObject = <E extends v.ObjectEntries>(entries: E) => v.pipe(notArray, v.looseObject(entries));

/**
 * `{ "<token id>": number }` (OpenAI logit_bias). valibot's record skips `__proto__`; this reads the
 * object's own keys, so every key the client sent is checked and none is dropped.
 */
export function tokenIdMap(min: number, max: number, maxEntries = 1024) {
  return v.custom<Record<string, number>>((x) => {
    if (!isRecord(x)) return false;
    const keys = Object.keys(x);
    if (keys.length > maxEntries) return false;
    return keys.every((k) => /^\d{1,9}$/.test(k) && typeof x[k] === 'number' && Number.isFinite(x[k]) && (x[k] as number) >= min && (x[k] as number) <= max);
  }, `must be an object of at most ${maxEntries} token ids (as strings) to numbers in [${min}, ${max}]`);
}

/** OpenAI's rule for function (and json_schema) names. */
export const FunctionName = v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_-]{1,64}$/, 'function names are 1-64 letters, digits, underscores or dashes'));

/** A JSON schema given as an object (its content is checked where it is compiled). */
export const JsonSchemaObject = v.custom<Record<string, unknown>>(isRecord, 'must be a JSON schema object');
