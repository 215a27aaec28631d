// Open Inference Protocol (KServe v2) REST wire shapes: the inference request schema, the response
// types, and the few pure accessors that read or write the binary extension's snake_case parameters.
import * as v from 'valibot';
import { samplingFields } from '../shared/generation-params.ts';
import { finiteBetween, integerBetween, notArray } from '../shared/schemas.ts';
import { RuntimeError, type FinishReason } from '../../runtime/index.ts';

/** One `$parameter` value: the spec allows a string, a number or a boolean, nothing nested. */
export type ParameterValue = string | number | boolean;

/** `$parameters`: zero or more name/value pairs. */
export type Parameters = Readonly<Record<string, ParameterValue>>;

/** `$tensor_data`: a flat row-major array or the tensor's natural nesting of arrays. */
export type WireTensorData = ReadonlyArray<WireTensorData | number | string | boolean>;

const isParameterValue = (x: unknown): x is ParameterValue => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';

/**
 * Reads the object's own keys (valibot's record skips `__proto__`), so every parameter the client
 * sent is checked and none is dropped.
 */
export const ParametersSchema = v.pipe(
  notArray,
  v.check((x) => Object.values(x).every(isParameterValue), 'parameter values must be strings, numbers or booleans'),
  v.transform((x) => x as Parameters),
);

/**
 * Only "is an array" here: elements (and their nesting) are checked by the tensor decoder, which
 * names the tensor in its messages and walks a large tensor once instead of per-element schemas.
 */
export const TensorDataSchema = v.custom<WireTensorData>(Array.isArray, 'must be an array (flat or nested)');

/** `$request_input`. `data` is absent when the tensor travels as binary data after the JSON. */
export const RequestInputSchema = v.pipe(
  notArray,
  v.object({
    name: v.pipe(v.string(), v.minLength(1, 'must not be empty')),
    // Numbers only here; non-negative integer dims are checked by the decoder, naming the input.
    shape: v.array(v.number()),
    // Any string here; the decoder names the input when it is not an OIP datatype.
    datatype: v.string(),
    parameters: v.optional(ParametersSchema),
    data: v.optional(TensorDataSchema),
  }),
);

/** `$request_output`: which output to return and how (`binary_data`). */
export const RequestOutputSchema = v.pipe(
  notArray,
  v.object({
    name: v.pipe(v.string(), v.minLength(1, 'must not be empty')),
    parameters: v.optional(ParametersSchema),
  }),
);

/** `$inference_request`. Unknown keys are ignored, as the spec's open schema allows. */
export const InferenceRequestSchema = v.pipe(
  notArray,
  v.object({
    id: v.optional(v.string()),
    parameters: v.optional(ParametersSchema),
    inputs: v.array(RequestInputSchema),
    outputs: v.optional(v.array(RequestOutputSchema)),
  }),
);

export type InferenceRequest = v.InferOutput<typeof InferenceRequestSchema>;
export type RequestInput = v.InferOutput<typeof RequestInputSchema>;
export type RequestOutput = v.InferOutput<typeof RequestOutputSchema>;

/** `$response_output`: `data` is absent when the output is sent as binary data. */
export interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Parameters;
  data?: Array<number | string | boolean>;
}

/** `$inference_response`. */
export interface InferenceResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: ResponseOutput[];
}

/** `$metadata_tensor`: variable-size dims are -1. */
export interface MetadataTensor {
  name: string;
  datatype: string;
  shape: number[];
}

const invalid = (message: string) => new RuntimeError('invalid_request', message);

type PathItem = NonNullable<v.BaseIssue<unknown>['path']>[number];

/** "inputs[0].shape[1]" from a valibot issue path. */
const pathText = (path: readonly PathItem[]) =>
  path.map((p) => (typeof p.key === 'number' ? `[${p.key}]` : `.${String(p.key)}`)).join('').replace(/^\./, '');

/**
 * Validates a parsed JSON value (the binary extension's JSON header, which no body middleware saw)
 * as an inference request; throws RuntimeError('invalid_request') naming the first bad field.
 */
export function parseInferenceRequest(json: unknown): InferenceRequest {
  const result = v.safeParse(InferenceRequestSchema, json);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const where = pathText(issue.path ?? []);
  if (issue.kind === 'schema' && issue.received === 'undefined') throw invalid(`Missing required field '${where}'.`);
  throw invalid(`Invalid ${where ? `'${where}'` : 'inference request'}: ${issue.message}`);
}

/** A tensor name as it appears in messages: quoted, and cut short if a client sent a huge one. */
export const quoted = (name: string) => `'${name.length > 80 ? `${name.slice(0, 80)}…` : name}'`;

/**
 * The input's `parameters.binary_data_size` (its byte length after the JSON header), or undefined
 * when the input carries JSON `data`; throws when the parameter is not a non-negative integer.
 */
export function binaryDataSize(input: RequestInput): number | undefined {
  const size = input.parameters?.binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`input ${quoted(input.name)}: parameters.binary_data_size must be a non-negative integer, got ${JSON.stringify(size)}`);
  }
  return size;
}

/**
 * Which outputs go back as binary data: an output's own `parameters.binary_data` decides, else the
 * request's `parameters.binary_data_output` (Triton's precedence). Checks both are booleans and
 * that no output is requested twice, so a bad request fails before inference runs.
 */
export function binaryOutputSelector(request: Pick<InferenceRequest, 'parameters' | 'outputs'>): (name: string) => boolean {
  const all = request.parameters?.binary_data_output;
  if (all !== undefined && typeof all !== 'boolean') {
    throw invalid(`parameters.binary_data_output must be a boolean, got ${JSON.stringify(all)}`);
  }
  const own = new Map<string, boolean | undefined>();
  for (const output of request.outputs ?? []) {
    if (own.has(output.name)) throw invalid(`output ${quoted(output.name)} is requested more than once`);
    const flag = output.parameters?.binary_data;
    if (flag !== undefined && typeof flag !== 'boolean') {
      throw invalid(`output ${quoted(output.name)}: parameters.binary_data must be a boolean, got ${JSON.stringify(flag)}`);
    }
    own.set(output.name, flag);
  }
  return (name) => own.get(name) ?? all === true;
}

/** The response output for a tensor sent as binary data: no `data`, its byte length in `parameters`. */
export function toBinaryOutput(output: Omit<ResponseOutput, 'data'>, size: number): ResponseOutput {
  return { name: output.name, shape: output.shape, datatype: output.datatype, parameters: { ...output.parameters, binary_data_size: size } };
}

/**
 * Sampling for text generation, from `parameters` (infer) or the generate extension's body: the
 * OpenAI routes' fields and ranges. Other keys are left alone: OIP clients send their own
 * (content_type, binary_data_output, ...).
 */
export const GenerateParametersSchema = v.pipe(
  notArray,
  v.looseObject({
    max_tokens: v.nullish(integerBetween(1)),
    temperature: samplingFields.temperature,
    top_p: samplingFields.top_p,
    top_k: samplingFields.top_k,
    min_p: samplingFields.min_p,
    seed: samplingFields.seed,
    stop: samplingFields.stop,
    repetition_penalty: samplingFields.repetition_penalty,
    frequency_penalty: samplingFields.frequency_penalty,
    presence_penalty: samplingFields.presence_penalty,
    ignore_eos: samplingFields.ignore_eos,
  }),
);
export type GenerateParameters = v.InferOutput<typeof GenerateParametersSchema>;

/** Checks generation parameters, naming the first bad one. */
/** OIP `parameters` validated by a schema; the first problem is a 400 naming the parameter. */
function parseParameters<S extends v.GenericSchema>(schema: S, parameters: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, parameters ?? {});
  if (result.success) return result.output;
  const issue = result.issues[0];
  const key = issue?.path?.map((p) => String(p.key)).join('.') ?? 'parameters';
  throw new RuntimeError('invalid_request', `parameter '${key}': ${issue?.message ?? 'invalid'}`);
}

export const parseGenerateParameters = (parameters: unknown): GenerateParameters => parseParameters(GenerateParametersSchema, parameters);

/** The generate extension's request (`POST /v2/models/{m}/generate` and `/generate_stream`). */
export const GenerateRequestSchema = v.pipe(
  notArray,
  v.looseObject({
    text_input: v.string(),
    parameters: v.optional(notArray),
  }),
);
export type GenerateExtensionRequest = v.InferOutput<typeof GenerateRequestSchema>;

/** One generate extension answer (the whole text, or one streamed piece of it). */
export const generateOutput = (model: string, text: string, finishReason?: FinishReason) => ({
  model_name: model,
  model_version: '1',
  text_output: text,
  ...(finishReason ? { finish_reason: finishReason } : {}),
});

/** `$metadata_server_response`. */
export const serverMetadata = (version: string, extensions: readonly string[]) => ({ name: 'ovserve', version, extensions: [...extensions] });

/** `$metadata_model_response`. */
export const modelMetadataToWire = (name: string, platform: string, io: { inputs: MetadataTensor[]; outputs: MetadataTensor[] }) => ({
  name,
  versions: ['1'],
  platform,
  inputs: io.inputs,
  outputs: io.outputs,
});

/** Parameters of an OIP infer on a text-to-image model (OVMS's image-generation names). */
const ImageParametersSchema = v.looseObject({
  n: v.optional(integerBetween(1, 64)),
  width: v.optional(integerBetween(1, 8192)),
  height: v.optional(integerBetween(1, 8192)),
  num_inference_steps: v.optional(integerBetween(1, 10_000)),
  guidance_scale: v.optional(finiteBetween(0, 100)),
  seed: v.optional(integerBetween(-(2 ** 63), 2 ** 63)),
  negative_prompt: v.optional(v.string()),
});
export type ImageParameters = v.InferOutput<typeof ImageParametersSchema>;

export const parseImageParameters = (parameters: unknown): ImageParameters => parseParameters(ImageParametersSchema, parameters);
