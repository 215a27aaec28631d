// What each model task means as tensors on the Open Inference Protocol: its declared inputs and
// outputs (model metadata), and how decoded input tensors become a runtime request and back.
import { RuntimeError, type ModelMetadata, type ModelTask, type Runtime, type Tensor } from '../../runtime/index.ts';
import { samplingFromWire } from '../shared/generation-params.ts';
import { collectChoices } from '../shared/collect.ts';
import { metadataTensor, type OipTensor, type StringTensor } from './tensors.ts';
import { parseGenerateParameters, parseImageParameters, type MetadataTensor, type Parameters } from './wire.ts';

export interface OipCall {
  runtime: Runtime;
  model: string;
  inputs: ReadonlyMap<string, OipTensor>;
  parameters: Parameters | undefined;
  signal: AbortSignal;
}

export interface OipTask {
  metadata(meta: ModelMetadata): { inputs: MetadataTensor[]; outputs: MetadataTensor[] };
  /** Every output the task gives, by name (the route keeps the ones the client asked for). */
  infer(call: OipCall): Promise<Map<string, OipTensor>>;
}

const invalid = (message: string) => new RuntimeError('invalid_request', message);
const bytesSpec = (name: string, shape: number[]): MetadataTensor => ({ name, datatype: 'BYTES', shape });

/** A BYTES input as its strings: shape [N] or [N, 1] (MLServer's `str` codec). */
function strings(inputs: ReadonlyMap<string, OipTensor>, name: string, options: { exactlyOne?: boolean } = {}): string[] {
  const tensor = inputs.get(name);
  if (!tensor) throw invalid(`input '${name}' is missing; this model takes ${[...inputs.keys()].length ? 'other inputs than ' : ''}'${name}'`);
  if (tensor.type !== 'bytes') throw invalid(`input '${name}' must be BYTES`);
  const [n = 0, ...rest] = tensor.dims;
  if (tensor.dims.length === 0 || tensor.dims.length > 2 || (rest.length === 1 && rest[0] !== 1)) throw invalid(`input '${name}' must have shape [N] or [N, 1]`);
  if (options.exactlyOne && n !== 1) throw invalid(`input '${name}' must hold exactly one string (shape [1])`);
  return [...tensor.strings];
}

function refuseOthers(inputs: ReadonlyMap<string, OipTensor>, allowed: readonly string[]): void {
  const extra = [...inputs.keys()].filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw invalid(`unknown input(s) ${extra.map((n) => `'${n}'`).join(', ')}; this model takes ${allowed.map((n) => `'${n}'`).join(', ')}`);
}

const fp32 = (data: Float32Array, dims: number[]): Tensor => ({ type: 'float32', data, dims });
const bytesOut = (values: string[]): StringTensor => ({ type: 'bytes', strings: values, dims: [values.length] });

/** Token-id rows from INT64/INT32 `input_ids` [N, L], cut by `attention_mask` where given. */
function tokenRows(inputs: ReadonlyMap<string, OipTensor>): number[][] {
  const ids = inputs.get('input_ids') as Tensor;
  if (ids.type !== 'int64' && ids.type !== 'int32') throw invalid("input 'input_ids' must be INT64 or INT32");
  if (ids.dims.length !== 2) throw invalid("input 'input_ids' must have shape [N, L]");
  const [n = 0, width = 0] = ids.dims;
  const mask = inputs.get('attention_mask');
  if (mask && (mask.type === 'bytes' || mask.dims.join() !== ids.dims.join())) throw invalid("input 'attention_mask' must be numeric with the shape of 'input_ids'");
  return Array.from({ length: n }, (_, row) => {
    const out: number[] = [];
    for (let t = 0; t < width; t++) {
      if (mask && Number((mask as Tensor).data[row * width + t]) === 0) continue;
      const id = Number(ids.data[row * width + t]);
      if (!Number.isInteger(id) || id < 0) throw invalid(`input 'input_ids' holds ${id}, not a token id`);
      out.push(id);
    }
    if (out.length === 0) throw invalid(`input 'input_ids' row ${row} is empty`);
    return out;
  });
}

const embeddings: OipTask = {
  metadata(meta) {
    const hidden = meta.outputs[0]?.shape.at(-1);
    return {
      inputs: [bytesSpec('text', [-1])],
      outputs: [{ name: 'embeddings', datatype: 'FP32', shape: [-1, typeof hidden === 'number' ? hidden : -1] }],
    };
  },
  async infer({ runtime, model, inputs, parameters, signal }) {
    const byIds = inputs.has('input_ids');
    refuseOthers(inputs, byIds ? ['input_ids', 'attention_mask'] : ['text']);
    const texts: Array<string | number[]> = byIds ? tokenRows(inputs) : strings(inputs, 'text');
    if (texts.length === 0) throw invalid('no input to embed');
    const dimensions = parameters?.dimensions;
    if (dimensions !== undefined && (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1)) throw invalid("parameter 'dimensions' must be a positive integer");
    const result = await runtime.embed({ model, inputs: texts, ...(dimensions === undefined ? {} : { dimensions }), signal });
    const width = result.embeddings[0]?.length ?? 0;
    const data = new Float32Array(result.embeddings.length * width);
    result.embeddings.forEach((e, i) => data.set(e, i * width));
    return new Map<string, OipTensor>([['embeddings', fp32(data, [result.embeddings.length, width])]]);
  },
};

const rerank: OipTask = {
  metadata: () => ({ inputs: [bytesSpec('query', [1]), bytesSpec('documents', [-1])], outputs: [{ name: 'scores', datatype: 'FP32', shape: [-1] }] }),
  async infer({ runtime, model, inputs, signal }) {
    refuseOthers(inputs, ['query', 'documents']);
    const [query = ''] = strings(inputs, 'query', { exactlyOne: true });
    const documents = strings(inputs, 'documents');
    if (query === '' || documents.length === 0) throw invalid("'query' must not be empty and 'documents' must hold at least one string");
    const result = await runtime.rerank({ model, query, documents, signal });
    // Scores in input order (the OpenAI/Cohere route sorts them; tensors keep positions).
    const scores = new Float32Array(documents.length);
    for (const { index, score } of result.results) scores[index] = score;
    return new Map<string, OipTensor>([['scores', fp32(scores, [documents.length])]]);
  },
};

const textGeneration: OipTask = {
  metadata: () => ({ inputs: [bytesSpec('text_input', [-1])], outputs: [bytesSpec('text_output', [-1])] }),
  async infer({ runtime, model, inputs, parameters, signal }) {
    refuseOthers(inputs, ['text_input']);
    const prompts = strings(inputs, 'text_input');
    if (prompts.length === 0) throw invalid("input 'text_input' holds no prompt");
    const sampling = parseGenerateParameters(parameters);
    const generation = await runtime.generate({ ...samplingFromWire(sampling), model, prompts: prompts.map((text) => ({ text })), maxTokens: sampling.max_tokens ?? undefined, signal });
    const choices = await collectChoices(generation);
    return new Map<string, OipTensor>([['text_output', bytesOut(choices.map((c) => c.text))]]);
  },
};

const tensor: OipTask = {
  metadata: (meta) => ({ inputs: meta.inputs.map(metadataTensor), outputs: meta.outputs.map(metadataTensor) }),
  async infer({ runtime, model, inputs, signal }) {
    const numeric: Record<string, Tensor> = {};
    for (const [name, t] of inputs) {
      if (t.type === 'bytes') throw invalid(`input '${name}' is BYTES; this model takes numeric tensors only`);
      numeric[name] = t;
    }
    const result = await runtime.infer({ model, inputs: numeric, signal });
    return new Map<string, OipTensor>(Object.entries(result.outputs));
  },
};

/** One prompt in, its images out as base64 PNG strings (parameters: n, width, height, num_inference_steps, guidance_scale, seed, negative_prompt). */
const textToImage: OipTask = {
  metadata: () => ({ inputs: [bytesSpec('prompt', [1])], outputs: [bytesSpec('image', [-1])] }),
  async infer({ runtime, model, inputs, parameters, signal }) {
    refuseOthers(inputs, ['prompt']);
    const [prompt = ''] = strings(inputs, 'prompt', { exactlyOne: true });
    const p = parseImageParameters(parameters);
    const result = await runtime.generateImages({
      model,
      prompt,
      n: p.n ?? 1,
      ...(p.width === undefined ? {} : { width: p.width }),
      ...(p.height === undefined ? {} : { height: p.height }),
      ...(p.num_inference_steps === undefined ? {} : { steps: p.num_inference_steps }),
      ...(p.guidance_scale === undefined ? {} : { guidanceScale: p.guidance_scale }),
      ...(p.seed === undefined ? {} : { seed: p.seed }),
      ...(p.negative_prompt === undefined ? {} : { negativePrompt: p.negative_prompt }),
      signal,
    });
    return new Map<string, OipTensor>([['image', bytesOut(result.images.map((png) => Buffer.from(png).toString('base64')))]]);
  },
};

export const OIP_TASKS: Record<ModelTask, OipTask> = { embeddings, rerank, 'text-generation': textGeneration, tensor, 'text-to-image': textToImage };
