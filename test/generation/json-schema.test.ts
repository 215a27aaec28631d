// The schema check in front of the grammar engine: keywords it cannot enforce are refused by
// name and path; string lengths and number bounds are rewritten into forms it enforces exactly.
import { describe, expect, it } from 'vitest';
import { enforceableSchema } from '../../runtime/generation/grammar/json-schema.ts';
import { RuntimeError } from '../../runtime/index.ts';
import { jsonValidator } from '../helpers/json-validator.ts';

const refusal = (schema: unknown) => {
  try {
    enforceableSchema(schema, 'outputFormat');
  } catch (err) {
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as RuntimeError).param).toBe('outputFormat');
    return (err as RuntimeError).message;
  }
  throw new Error('accepted');
};

describe('enforceableSchema', () => {
  it.each(['multipleOf', 'uniqueItems', 'not', 'if', 'contains', 'minProperties', 'maxProperties', 'patternProperties', 'propertyNames', 'dependentRequired'])('refuses %s, naming it and where it is', (keyword) => {
    const message = refusal({ type: 'object', properties: { a: { type: 'array', items: { [keyword]: 1 } } } });
    expect(message).toContain(`'${keyword}'`);
    expect(message).toContain('/properties/a/items');
  });

  it('refuses allOf with several parts, oneOf with overlapping options and unenforced formats', () => {
    expect(refusal({ allOf: [{ type: 'integer' }, { minimum: 1 }] })).toContain("'allOf'");
    expect(refusal({ oneOf: [{ type: 'integer' }, { type: 'number' }] })).toContain("'oneOf'");
    expect(refusal({ oneOf: [{ const: 1 }, { const: 2 }] })).toContain("'oneOf'");
    expect(refusal({ type: 'string', format: 'date' })).toContain("'format'");
    expect(refusal({ type: ['number', 'null'], minimum: 1 })).toContain("'minimum'");
  });

  it('keeps what the engine enforces as it is', () => {
    const schema = { type: 'object', properties: { a: { enum: ['x', 'y'] }, b: { type: 'integer', minimum: 1, maximum: 5 }, c: { oneOf: [{ type: 'string' }, { type: 'integer' }] }, d: { $ref: '#/$defs/d' } }, $defs: { d: { type: 'boolean' } }, required: ['a'] };
    expect(enforceableSchema(schema, 'p')).toEqual(schema);
  });

  it('turns string length bounds into a pattern of JSON-safe printable characters', () => {
    const out = enforceableSchema({ type: 'string', minLength: 2, maxLength: 5 }, 'p') as Record<string, unknown>;
    expect(out).toEqual({ type: 'string', pattern: '^[ !#-\\[\\]-~]{2,5}$' });
    const re = new RegExp(out.pattern as string);
    expect(re.test('ab')).toBe(true);
    expect(re.test('a"b')).toBe(false);
    expect(re.test('a\nb')).toBe(false);
    expect(re.test('abcdef')).toBe(false);
    expect((enforceableSchema({ type: 'string', maxLength: 3 }, 'p') as Record<string, unknown>).pattern).toBe('^[ !#-\\[\\]-~]{0,3}$');
    expect(refusal({ type: 'string', maxLength: 3, pattern: 'a+' })).toContain("'maxLength'");
  });

  it('turns bounded numbers into integer ranges, or decimals inside the bounds when no integer fits', () => {
    expect(enforceableSchema({ type: 'number', minimum: 1.5, maximum: 10 }, 'p')).toEqual({ type: 'integer', minimum: 2, maximum: 10 });
    expect(enforceableSchema({ type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 3 }, 'p')).toEqual({ type: 'integer', minimum: 1, maximum: 2 });
    expect(enforceableSchema({ type: 'number', exclusiveMinimum: 2 }, 'p')).toEqual({ type: 'integer', minimum: 3 });
    const ajv = jsonValidator;
    for (const schema of [{ type: 'number', minimum: 0.5, maximum: 0.7 }, { type: 'number', exclusiveMinimum: 0.1, exclusiveMaximum: 0.2 }, { type: 'number', minimum: -1e-9, maximum: 1e-9, exclusiveMinimum: 0 }]) {
      const out = enforceableSchema(schema, 'p') as { enum: number[] };
      expect(out.enum.length).toBeGreaterThan(0);
      for (const value of out.enum) expect(ajv.validate(schema, value), `${value} in ${JSON.stringify(schema)}`).toBe(true);
    }
  });

  it('does not modify its input', () => {
    const schema = { type: 'object', properties: { s: { type: 'string', maxLength: 2 } } };
    const copy = structuredClone(schema);
    enforceableSchema(schema, 'p');
    expect(schema).toEqual(copy);
  });
});
