// POST /images/generations and /images/edits (mounted under /v3, /v1 and the per-model base):
// OpenAI's image routes over the text-to-image task.
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import type { Runtime } from '../../runtime/index.ts';
import { invalidRequest, withWireParams } from '../shared/errors.ts';
import { applyPathModel } from '../shared/path-model.ts';
import { createRouteApp } from '../shared/route-app.ts';
import { describeIssues, jsonBody } from '../shared/validate.ts';
import { EditFieldsSchema, fromWire, GenerationsSchema, IMAGES_WIRE_PARAMS, NUMERIC_FORM_FIELDS, toWire } from './wire.ts';

/** A form field that must be one file, as bytes; absent gives undefined. */
async function fileField(value: unknown, name: string): Promise<Uint8Array | undefined> {
  if (value === undefined) return undefined;
  const one = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
  if (!(one instanceof File)) throw invalidRequest(`'${name}' must be one uploaded file (multipart/form-data).`, name);
  return new Uint8Array(await one.arrayBuffer());
}

/** The edit form: text fields (numbers read as numbers) validated like the JSON route, and its files. */
async function editForm(c: Context) {
  if (!/^multipart\/form-data/i.test(c.req.header('Content-Type') ?? '')) throw invalidRequest('images/edits takes multipart/form-data (an image file and text fields).', null);
  let form: Record<string, unknown>;
  try {
    form = await c.req.parseBody({ all: true });
  } catch (err) {
    throw invalidRequest(`The form could not be read: ${(err as Error).message}`, null);
  }
  const { image, 'image[]': images, mask, ...rest } = form;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (typeof value !== 'string') throw invalidRequest(`'${key}' must be a text field.`, key);
    const numeric = (NUMERIC_FORM_FIELDS as readonly string[]).includes(key);
    fields[key] = numeric && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
  }
  const parsed = v.safeParse(EditFieldsSchema, applyPathModel(fields, c.req.param('model')));
  if (!parsed.success) {
    const { message, param } = describeIssues(parsed.issues);
    throw invalidRequest(message, param);
  }
  const source = await fileField(image ?? images, 'image');
  if (!source) throw invalidRequest("Missing required parameter: 'image'.", 'image');
  return { fields: parsed.output, files: { image: source, ...(mask === undefined ? {} : { mask: await fileField(mask, 'mask') }) } };
}

export function createImagesApp(runtime: Runtime): Hono {
  const app = createRouteApp();
  const answer = async (c: Context, request: ReturnType<typeof fromWire>) => {
    const result = await runtime.generateImages(request).catch((err: unknown) => Promise.reject(withWireParams(err, IMAGES_WIRE_PARAMS)));
    return c.json(toWire(result));
  };
  app.post('/images/generations', ...jsonBody(GenerationsSchema), (c) => answer(c, fromWire(c.req.valid('json'), c.req.raw.signal)));
  app.post('/images/edits', async (c) => {
    const { fields, files } = await editForm(c);
    return answer(c, fromWire(fields, c.req.raw.signal, files));
  });
  return app;
}
