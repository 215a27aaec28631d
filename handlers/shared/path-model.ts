// Seldon-style per-model routes (/v2/models/{model}/infer/...): the path names the model. A body
// without `model` takes it from the path; a body naming another model is refused, as Seldon's
// translator does (it compares after stripping a `_<n>` version suffix from the path's name).
import { invalidRequest } from './errors.ts';

/** The model a body should name under a path model; throws invalid_request when they disagree. */
export function applyPathModel(body: unknown, pathModel: string | undefined): unknown {
  if (pathModel === undefined || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const record = body as Record<string, unknown>;
  const named = record.model;
  if (named === undefined || named === null) return { ...record, model: pathModel };
  const unversioned = pathModel.replace(/_\d+$/, '');
  if (named === pathModel || named === unversioned) return body;
  throw invalidRequest(
    `The body names model '${typeof named === 'string' ? named.slice(0, 200) : String(named)}' but the path names '${pathModel}'; they must agree (or leave 'model' out of the body).`,
    'model',
  );
}
