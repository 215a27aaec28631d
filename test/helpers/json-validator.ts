// One JSON-schema validator (ajv, draft 7) for tests that check generated JSON against its schema.
import AjvModule from 'ajv';

// ajv is CommonJS; under NodeNext its default export is the module object.
const Ajv = AjvModule.default;

/** Lenient about unknown keywords (test schemas are what clients send), strict about values. */
export const jsonValidator = new Ajv({ strict: false });
