// The tensor task: any ONNX (or OpenVINO IR) graph served as it is. Requests are checked against
// the graph's inputs; where every input and output has a dynamic first dimension, concurrent
// requests are stacked along it into one run by the encoder queue, and each gets its own rows back.
import { allocate, type Backend, type Feeds, type Tensor, type TensorData, type TensorInfo } from '../backends/backend.ts';
import { createEncoderQueue, type EncoderQueue } from '../batching/encoder-queue.ts';
import type { ModelEntry } from '../config.ts';
import { RuntimeError } from '../errors.ts';
import type { InferRequest, InferResult } from '../types.ts';

export interface TensorModel {
  /** Whether requests are stacked along a shared dynamic first dimension. */
  readonly batchable: boolean;
  readonly queue: EncoderQueue<Feeds, Record<string, Tensor>>;
  infer(request: InferRequest): Promise<InferResult>;
}

const elements = (dims: readonly number[]) => dims.reduce((n, d) => n * d, 1);
const isDynamic = (d: number | string) => typeof d === 'string' || d < 0;

/** The request's inputs, checked against the graph: names, types, ranks, fixed dims, data lengths. */
export function checkInputs(graphInputs: readonly TensorInfo[], inputs: Record<string, Tensor>): void {
  const known = new Set(graphInputs.map((i) => i.name));
  const unknown = Object.keys(inputs).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new RuntimeError('invalid_request', `unknown input(s) ${unknown.map((n) => `'${n}'`).join(', ')}; the model takes ${[...known].map((n) => `'${n}'`).join(', ')}`, { param: 'inputs' });
  }
  for (const info of graphInputs) {
    const tensor = inputs[info.name];
    if (!tensor) throw new RuntimeError('invalid_request', `input '${info.name}' is missing`, { param: 'inputs' });
    if (tensor.type !== info.type) throw new RuntimeError('invalid_request', `input '${info.name}' must be ${info.type}, not ${tensor.type}`, { param: 'inputs' });
    if (tensor.dims.length !== info.shape.length) {
      throw new RuntimeError('invalid_request', `input '${info.name}' must have rank ${info.shape.length} (shape [${info.shape.map((d) => (isDynamic(d) ? -1 : d)).join(', ')}]), not ${tensor.dims.length}`, {
        param: 'inputs',
      });
    }
    info.shape.forEach((d, i) => {
      if (!isDynamic(d) && tensor.dims[i] !== d) {
        throw new RuntimeError('invalid_request', `input '${info.name}' dimension ${i} must be ${d}, not ${tensor.dims[i]}`, { param: 'inputs' });
      }
    });
    if (elements(tensor.dims) !== tensor.data.length) {
      throw new RuntimeError('invalid_request', `input '${info.name}' has shape [${tensor.dims.join(', ')}] but ${tensor.data.length} elements`, { param: 'inputs' });
    }
  }
}

/** Stacks tensors of one type and equal trailing dims along dimension 0. */
export function stack(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0] as Tensor;
  const data = allocate(first.type, tensors.reduce((n, t) => n + t.data.length, 0));
  let at = 0;
  for (const t of tensors) {
    (data as Uint8Array).set(t.data as Uint8Array, at);
    at += t.data.length;
  }
  return { type: first.type, data, dims: [tensors.reduce((n, t) => n + (t.dims[0] as number), 0), ...first.dims.slice(1)] };
}

/** Rows [from, from + count) of a tensor stacked along dimension 0. */
export function rows(tensor: Tensor, from: number, count: number): Tensor {
  const perRow = elements(tensor.dims.slice(1));
  const data = tensor.data.slice(from * perRow, (from + count) * perRow) as TensorData;
  return { type: tensor.type, data, dims: [count, ...tensor.dims.slice(1)] };
}

/** Requests that can share a run: same trailing dims for every input. */
const stackKey = (feeds: Feeds) =>
  Object.keys(feeds)
    .sort()
    .map((name) => `${name}:${(feeds[name] as Tensor).dims.slice(1).join('x')}`)
    .join('|');

export function createTensorModel(entry: ModelEntry, backend: Backend): TensorModel {
  const batchable = backend.inputs.length > 0 && [...backend.inputs, ...backend.outputs].every((t) => t.shape.length > 0 && isDynamic(t.shape[0] as number | string));

  /** One run over requests whose inputs stack; each request gets its own rows of every output. */
  async function runStacked(group: readonly Feeds[]): Promise<Array<Record<string, Tensor>>> {
    if (group.length === 1) return [await backend.run(group[0] as Feeds)];
    const feeds: Feeds = {};
    for (const info of backend.inputs) feeds[info.name] = stack(group.map((f) => f[info.name] as Tensor));
    const outputs = await backend.run(feeds);
    let from = 0;
    return group.map((f) => {
      const count = (f[backend.inputs[0]?.name as string] as Tensor).dims[0] as number;
      const mine = Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, rows(t, from, count)]));
      from += count;
      return mine;
    });
  }

  const queue = createEncoderQueue<Feeds, Record<string, Tensor>>(
    {
      maxBatchRequests: batchable ? entry.max_batch_requests : 1,
      maxBatchTokens: entry.max_batch_tokens,
      maxWaitMs: entry.max_wait_ms,
      maxQueuedRequests: entry.max_queued_requests,
    },
    async (items) => {
      // Requests whose trailing dims differ cannot stack: each such group runs on its own.
      const groups = new Map<string, number[]>();
      items.forEach((feeds, i) => {
        const key = stackKey(feeds);
        groups.set(key, [...(groups.get(key) ?? []), i]);
      });
      const results = new Array<Record<string, Tensor>>(items.length);
      for (const members of groups.values()) {
        const outputs = await runStacked(members.map((i) => items[i] as Feeds));
        members.forEach((i, j) => (results[i] = outputs[j] as Record<string, Tensor>));
      }
      return results;
    },
  );

  return {
    batchable,
    queue,
    async infer(request) {
      checkInputs(backend.inputs, request.inputs);
      const wanted = request.outputs ?? backend.outputs.map((o) => o.name);
      const unknown = wanted.filter((name) => !backend.outputs.some((o) => o.name === name));
      if (unknown.length > 0) {
        throw new RuntimeError('invalid_request', `unknown output(s) ${unknown.map((n) => `'${n}'`).join(', ')}; the model gives ${backend.outputs.map((o) => `'${o.name}'`).join(', ')}`, {
          param: 'outputs',
        });
      }
      const batchRows = batchable ? ((request.inputs[backend.inputs[0]?.name as string] as Tensor).dims[0] as number) : 1;
      if (batchable && backend.inputs.some((i) => (request.inputs[i.name] as Tensor).dims[0] !== batchRows)) {
        throw new RuntimeError('invalid_request', 'every input must have the same first (batch) dimension', { param: 'inputs' });
      }
      // Copies: the feeds' buffers are transferred to the inference worker.
      const feeds: Feeds = Object.fromEntries(Object.entries(request.inputs).map(([name, t]) => [name, { type: t.type, data: t.data.slice() as TensorData, dims: [...t.dims] }]));
      const [outputs] = await queue.submit([{ item: feeds, length: Math.max(1, batchRows) }], request.signal);
      const all = outputs as Record<string, Tensor>;
      return { model: entry.name, outputs: Object.fromEntries(wanted.map((name) => [name, all[name] as Tensor])) };
    },
  };
}
