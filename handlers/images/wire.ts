// OpenAI images wire shapes (/images/generations as JSON, /images/edits as multipart form data)
// with OVMS's extras (num_inference_steps, guidance_scale, negative_prompt, rng_seed / seed,
// strength), and pure translation to and from the runtime's image request.
import * as v from 'valibot';
import { RuntimeError, type ImageRequest, type ImageResult } from '../../runtime/index.ts';
import { finiteBetween, integerBetween, wireObject } from '../shared/schemas.ts';

const common = {
  model: v.string(),
  prompt: v.pipe(v.string(), v.minLength(1, 'prompt must not be empty'), v.maxLength(32_000, 'prompt is at most 32000 characters')),
  n: v.nullish(integerBetween(1, 10)),
  size: v.nullish(v.string()),
  response_format: v.nullish(v.picklist(['b64_json', 'url'], "response_format must be 'b64_json' or 'url'")),
  output_format: v.nullish(v.literal('png', "output_format must be 'png' (the only format this server writes)")),
  user: v.nullish(v.string()),
  // OVMS's image-generation extras.
  num_inference_steps: v.nullish(integerBetween(1, 10_000)),
  guidance_scale: v.nullish(finiteBetween(0, 100)),
  negative_prompt: v.nullish(v.pipe(v.string(), v.maxLength(32_000, 'negative_prompt is at most 32000 characters'))),
  rng_seed: v.nullish(integerBetween(-(2 ** 63), 2 ** 63)),
  seed: v.nullish(integerBetween(-(2 ** 63), 2 ** 63)),
};

export const GenerationsSchema = wireObject(common);
export type GenerationsRequest = v.InferOutput<typeof GenerationsSchema>;

/** The edit form's text fields, once numbers are read as numbers (the files are taken apart). */
export const EditFieldsSchema = wireObject({ ...common, strength: v.nullish(finiteBetween(0, 1)) });
export type EditFields = v.InferOutput<typeof EditFieldsSchema>;

/** Form fields that are numbers on the wire: multipart sends every field as text. */
export const NUMERIC_FORM_FIELDS = ['n', 'num_inference_steps', 'guidance_scale', 'rng_seed', 'seed', 'strength'] as const;

const invalid = (message: string, param: string) => new RuntimeError('invalid_request', message, { param });

/** `WIDTHxHEIGHT` (or `auto` / absent: the model's own size). */
function sizeOf(size: string | null | undefined): { width?: number; height?: number } {
  if (size === undefined || size === null || size === 'auto') return {};
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(size);
  if (!m) throw invalid(`size must be 'auto' or WIDTHxHEIGHT in pixels, like '512x512'; got '${size.slice(0, 40)}'.`, 'size');
  return { width: Number(m[1]), height: Number(m[2]) };
}

export function fromWire(body: GenerationsRequest | EditFields, signal: AbortSignal, files: { image?: Uint8Array; mask?: Uint8Array } = {}): ImageRequest {
  if (body.response_format === 'url') throw invalid("response_format 'url' is not supported: this server stores no images; use 'b64_json'.", 'response_format');
  if (body.rng_seed != null && body.seed != null && body.rng_seed !== body.seed) throw invalid('rng_seed and seed name the same seed; send one.', 'rng_seed');
  const seed = body.rng_seed ?? body.seed ?? undefined;
  const strength = 'strength' in body ? (body.strength ?? undefined) : undefined;
  return {
    model: body.model,
    prompt: body.prompt,
    n: body.n ?? 1,
    ...sizeOf(body.size),
    ...(body.num_inference_steps == null ? {} : { steps: body.num_inference_steps }),
    ...(body.guidance_scale == null ? {} : { guidanceScale: body.guidance_scale }),
    ...(body.negative_prompt == null ? {} : { negativePrompt: body.negative_prompt }),
    ...(seed === undefined ? {} : { seed }),
    ...(strength === undefined ? {} : { strength }),
    ...(files.image ? { image: files.image } : {}),
    ...(files.mask ? { mask: files.mask } : {}),
    signal,
  };
}

/** Runtime field -> the wire field, for error params. */
export const IMAGES_WIRE_PARAMS = { width: 'size', height: 'size', steps: 'num_inference_steps', guidanceScale: 'guidance_scale', image: 'image', mask: 'mask', strength: 'strength', n: 'n', prompt: 'prompt' } as const;

export function toWire(result: ImageResult) {
  return {
    created: Math.floor(Date.now() / 1000),
    data: result.images.map((png) => ({ b64_json: Buffer.from(png).toString('base64') })),
    output_format: 'png' as const,
    usage: { input_tokens: result.promptTokens, output_tokens: 0, total_tokens: result.promptTokens, input_tokens_details: { text_tokens: result.promptTokens, image_tokens: 0 } },
  };
}
