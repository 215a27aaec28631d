// The tiny-sd fixture: the diffusers / Optimum ONNX folder, every graph running in onnxruntime with the
// documented I/O, the GroupNorm construction against a reference, the CLIP tokenizer, determinism.
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPreset, isBuilt } from '../../models/build.ts';
import { GraphBuilder, writeModel } from '../../models/builder/graph.ts';
import { DataType } from '../../models/builder/onnx.ts';
import { createRng } from '../../models/builder/random.ts';
import { groupNorm } from '../../models/builder/unet.ts';

const dir = mkdtempSync(join(tmpdir(), 'ovserve-diffusion-builder-'));
const model = join(dir, 'tiny-sd');
const readJson = (file: string) => JSON.parse(readFileSync(join(model, file), 'utf8')) as Record<string, unknown>;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const filesUnder = (root: string): string[] =>
  readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();

/** N(0, 1) inputs from the builder's own seeded generator. */
const normal = (count: number, seed: number) => createRng(seed).normal(count, 1);
const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
const dataOf = (t: ort.Tensor | undefined) => t?.data as Float32Array;

/** Every value finite and a standard deviation of O(1): activations neither vanished nor blew up. */
function expectSpread(values: Float32Array): void {
  let sum = 0;
  let squares = 0;
  let nonFinite = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) nonFinite++;
    sum += v;
    squares += v * v;
  }
  expect(nonFinite).toBe(0);
  const mean = sum / values.length;
  const std = Math.sqrt(squares / values.length - mean * mean);
  expect(std).toBeGreaterThan(0.1);
  expect(std).toBeLessThan(10);
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

const sessions: Record<string, ort.InferenceSession> = {};
let tokenizer: Tokenizer;
let padId: number;

/** A prompt as the pipeline feeds it: <|startoftext|> ... <|endoftext|>, padded to 77 with the pad token. */
function encode77(text: string): number[] {
  const ids = tokenizer.encode(text).ids;
  return [...ids, ...Array<number>(77 - ids.length).fill(padId)];
}

beforeAll(async () => {
  buildPreset('tiny-sd', model);
  for (const name of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) sessions[name] = await ort.InferenceSession.create(join(model, name, 'model.onnx'));
  const config = readJson('tokenizer/tokenizer_config.json');
  tokenizer = new Tokenizer(readJson('tokenizer/tokenizer.json'), config);
  padId = tokenizer.token_to_id(config.pad_token as string) as number;
});
afterAll(async () => {
  for (const s of Object.values(sessions)) await s.release();
  rmSync(dir, { recursive: true, force: true });
});

describe('tiny-sd folder', () => {
  it('has the diffusers / Optimum ONNX layout and isBuilt recognises it by model_index.json', () => {
    expect(filesUnder(model)).toEqual([
      'model_index.json',
      'scheduler/scheduler_config.json',
      'text_encoder/config.json',
      'text_encoder/model.onnx',
      'tokenizer/merges.txt',
      'tokenizer/special_tokens_map.json',
      'tokenizer/tokenizer.json',
      'tokenizer/tokenizer_config.json',
      'tokenizer/vocab.json',
      'unet/config.json',
      'unet/model.onnx',
      'vae_decoder/config.json',
      'vae_decoder/model.onnx',
      'vae_encoder/config.json',
      'vae_encoder/model.onnx',
    ]);
    expect(isBuilt(model)).toBe(true);
    expect(readJson('model_index.json')).toMatchObject({
      _class_name: 'StableDiffusionPipeline',
      _comment: expect.stringContaining('RANDOM-WEIGHT'),
      text_encoder: ['transformers', 'CLIPTextModel'],
      tokenizer: ['transformers', 'CLIPTokenizer'],
      unet: ['diffusers', 'UNet2DConditionModel'],
      vae: ['diffusers', 'AutoencoderKL'],
      scheduler: ['diffusers', 'EulerDiscreteScheduler'],
    });
  });

  it("writes SD-1.5's Euler scheduler and configs that agree with each other", () => {
    expect(readJson('scheduler/scheduler_config.json')).toMatchObject({
      _class_name: 'EulerDiscreteScheduler',
      num_train_timesteps: 1000,
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      prediction_type: 'epsilon',
      timestep_spacing: 'leading',
      steps_offset: 1,
      interpolation_type: 'linear',
      use_karras_sigmas: false,
    });
    const text = readJson('text_encoder/config.json');
    const unet = readJson('unet/config.json');
    const vae = readJson('vae_decoder/config.json');
    expect(text).toMatchObject({ architectures: ['CLIPTextModel'], hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 77, hidden_act: 'quick_gelu' });
    expect(text.vocab_size).toBeLessThanOrEqual(4096);
    expect(unet).toMatchObject({ _class_name: 'UNet2DConditionModel', in_channels: 4, out_channels: 4, cross_attention_dim: text.hidden_size, sample_size: 8, down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'] });
    expect(vae).toMatchObject({ _class_name: 'AutoencoderKL', in_channels: 3, out_channels: 3, latent_channels: 4, scaling_factor: 0.18215, sample_size: 64 });
    expect(2 ** ((vae.block_out_channels as number[]).length - 1)).toBe(8);
    expect(readJson('vae_encoder/config.json')).toEqual(vae);
  });

  it('is deterministic: building again gives byte-identical files', () => {
    const again = join(dir, 'again');
    buildPreset('tiny-sd', again);
    const files = filesUnder(model);
    expect(filesUnder(again)).toEqual(files);
    for (const file of files) expect(sha(join(again, file)), file).toBe(sha(join(model, file)));
  });
});

describe('tiny-sd tokenizer', () => {
  it('encodes a prompt as <|startoftext|> ... <|endoftext|> and decodes it back', () => {
    const config = readJson('tokenizer/tokenizer_config.json');
    expect(config).toMatchObject({ tokenizer_class: 'CLIPTokenizer', model_max_length: 77, pad_token: '<|endoftext|>' });
    const bos = tokenizer.token_to_id('<|startoftext|>');
    const eos = tokenizer.token_to_id('<|endoftext|>');
    expect(padId).toBe(eos);
    const { ids, tokens } = tokenizer.encode('a lighthouse at dusk');
    expect(ids[0]).toBe(bos);
    expect(ids[ids.length - 1]).toBe(eos);
    expect(tokens).toContain('lighthouse</w>');
    expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe('a lighthouse at dusk');
    // CLIP lowercases and collapses whitespace; punctuation is its own word.
    expect(tokenizer.encode('A  LIGHTHOUSE at\nDusk').ids).toEqual(ids);
    expect(tokenizer.decode(tokenizer.encode('a lighthouse, at dusk!').ids, { skip_special_tokens: true })).toBe('a lighthouse, at dusk!');
  });

  it('pads to 77 with <|endoftext|> and keeps every id inside the text encoder vocabulary', () => {
    const padded = encode77('a lighthouse at dusk');
    expect(padded).toHaveLength(77);
    expect(padded.slice(6)).toEqual(Array(71).fill(padId));
    const vocabSize = readJson('text_encoder/config.json').vocab_size as number;
    expect(padId).toBe(vocabSize - 1);
    expect(Math.max(...encode77('an oil painting of a castle in the mountains'))).toBeLessThan(vocabSize);
  });

  it('writes vocab.json and merges.txt matching tokenizer.json, and the special tokens map', () => {
    const json = readJson('tokenizer/tokenizer.json') as { model: { vocab: Record<string, number>; merges: string[] } };
    expect(readJson('tokenizer/vocab.json')).toEqual(json.model.vocab);
    expect(Object.keys(json.model.vocab)).toHaveLength(readJson('text_encoder/config.json').vocab_size as number);
    const merges = readFileSync(join(model, 'tokenizer', 'merges.txt'), 'utf8').trimEnd().split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges.slice(1)).toEqual(json.model.merges);
    expect(readJson('tokenizer/special_tokens_map.json')).toMatchObject({ bos_token: { content: '<|startoftext|>' }, eos_token: { content: '<|endoftext|>' }, pad_token: '<|endoftext|>' });
  });
});

describe('tiny-sd graphs', () => {
  const io = (name: string) => ({ inputs: sessions[name]?.inputNames, outputs: sessions[name]?.outputNames });

  it('declare the Optimum input and output names', () => {
    expect(io('text_encoder')).toEqual({ inputs: ['input_ids'], outputs: ['last_hidden_state', 'pooler_output'] });
    expect(io('unet')).toEqual({ inputs: ['sample', 'timestep', 'encoder_hidden_states'], outputs: ['out_sample'] });
    expect(io('vae_decoder')).toEqual({ inputs: ['latent_sample'], outputs: ['sample'] });
    expect(io('vae_encoder')).toEqual({ inputs: ['sample'], outputs: ['latent_sample'] });
    const types = sessions.text_encoder?.inputMetadata.map((m) => (m.isTensor ? m.type : 'other'));
    expect(types).toEqual(['int32']);
    expect(sessions.unet?.inputMetadata.map((m) => (m.isTensor ? m.type : 'other'))).toEqual(['float32', 'float32', 'float32']);
  });

  it('text encoder: batch 2 gives last_hidden_state [2, 77, 32] and pooler_output at each first EOS', async () => {
    const rows = [encode77('a lighthouse at dusk'), encode77('')];
    const out = await sessions.text_encoder!.run({ input_ids: new ort.Tensor('int32', Int32Array.from(rows.flat()), [2, 77]) });
    const hidden = dataOf(out.last_hidden_state);
    const pooled = dataOf(out.pooler_output);
    expect(out.last_hidden_state?.dims).toEqual([2, 77, 32]);
    expect(out.pooler_output?.dims).toEqual([2, 32]);
    expectSpread(hidden);
    rows.forEach((ids, b) => {
      const eos = ids.indexOf(padId);
      expect(eos).toBe(b === 0 ? 5 : 1);
      expect(pooled.slice(b * 32, (b + 1) * 32)).toEqual(hidden.slice((b * 77 + eos) * 32, (b * 77 + eos + 1) * 32));
    });
    // Both rows start with <|startoftext|>: the causal mask makes position 0 identical, and only it.
    expect(maxDiff(hidden.slice(0, 32), hidden.slice(77 * 32, 78 * 32))).toBeLessThan(1e-5);
    expect(maxDiff(hidden.slice(32, 64), hidden.slice(78 * 32, 79 * 32))).toBeGreaterThan(1e-2);
  });

  it.each([
    [8, 8],
    [8, 16],
  ])('UNet: batch 2 of %ix%i latents gives out_sample of the same shape, per-row fractional timesteps and text', async (h, w) => {
    const sample = f32(normal(2 * 4 * h * w, 11), [2, 4, h, w]);
    const run = async (timesteps: number[], context: Float32Array) =>
      (await sessions.unet!.run({ sample, timestep: f32(Float32Array.from(timesteps), [2]), encoder_hidden_states: f32(context, [2, 77, 32]) })).out_sample as ort.Tensor;
    const context = normal(2 * 77 * 32, 12);
    const out = await run([999, 0.5], context);
    expect(out.dims).toEqual([2, 4, h, w]);
    expectSpread(dataOf(out));
    // Row 1 alone moves with its fractional timestep; the text conditioning moves both rows.
    const row = 4 * h * w;
    const later = dataOf(await run([999, 0.75], context));
    expect(maxDiff(dataOf(out).slice(0, row), later.slice(0, row))).toBeLessThan(1e-5);
    expect(maxDiff(dataOf(out).slice(row), later.slice(row))).toBeGreaterThan(1e-4);
    expect(maxDiff(dataOf(out), dataOf(await run([999, 0.5], normal(2 * 77 * 32, 13))))).toBeGreaterThan(1e-3);
  });

  it.each([
    [8, 8],
    [8, 16],
  ])('VAE decoder: batch 2 of %ix%i latents gives sample [2, 3, 8h, 8w]', async (h, w) => {
    const out = await sessions.vae_decoder!.run({ latent_sample: f32(normal(2 * 4 * h * w, 21), [2, 4, h, w]) });
    expect(out.sample?.dims).toEqual([2, 3, 8 * h, 8 * w]);
    expectSpread(dataOf(out.sample));
  });

  it.each([
    [64, 64],
    [64, 128],
  ])('VAE encoder: batch 2 of %ix%i images gives the latent mean [2, 4, H/8, W/8], deterministically', async (h, w) => {
    const feeds = { sample: f32(normal(2 * 3 * h * w, 31), [2, 3, h, w]) };
    const out = await sessions.vae_encoder!.run(feeds);
    expect(out.latent_sample?.dims).toEqual([2, 4, h / 8, w / 8]);
    expectSpread(dataOf(out.latent_sample));
    expect(dataOf((await sessions.vae_encoder!.run(feeds)).latent_sample)).toEqual(dataOf(out.latent_sample));
  });
});

describe('GroupNorm at opset 17', () => {
  /** torch.nn.GroupNorm: per (batch, group) mean and biased variance, then the per-channel affine. */
  function reference(x: Float32Array, [B, C, H, W]: [number, number, number, number], groups: number, eps: number, scale: Float32Array, bias: Float32Array): Float32Array {
    const out = new Float32Array(x.length);
    const size = (C / groups) * H * W;
    for (let b = 0; b < B; b++) {
      for (let grp = 0; grp < groups; grp++) {
        const start = (b * groups + grp) * size;
        let mean = 0;
        for (let i = 0; i < size; i++) mean += x[start + i] as number;
        mean /= size;
        let variance = 0;
        for (let i = 0; i < size; i++) variance += ((x[start + i] as number) - mean) ** 2;
        variance /= size;
        for (let i = 0; i < size; i++) {
          const channel = Math.floor((start + i) / (H * W)) % C;
          out[start + i] = (((x[start + i] as number) - mean) / Math.sqrt(variance + eps)) * (scale[channel] as number) + (bias[channel] as number);
        }
      }
    }
    return out;
  }

  it('matches a TypeScript group norm within 1e-4', async () => {
    const dims: [number, number, number, number] = [2, 12, 3, 5];
    const [groups, eps] = [4, 1e-5];
    const rng = createRng(99);
    const scale = rng.normal(12, 0.5).map((v) => 1 + v);
    const bias = rng.normal(12, 0.5);
    const g = new GraphBuilder();
    const y = groupNorm(g, 'x', groups, eps, g.weight('scale', scale, [12, 1, 1]), g.weight('bias', bias, [12, 1, 1]));
    g.opTo('Identity', [y], ['y']);
    const file = join(dir, 'group-norm.onnx');
    writeModel(file, g.graph('group_norm', [{ name: 'x', dataType: DataType.FLOAT, shape: ['b', 12, 'h', 'w'] }], [{ name: 'y', dataType: DataType.FLOAT, shape: ['b', 12, 'h', 'w'] }]));
    const session = await ort.InferenceSession.create(file);
    // Offset and scaled input, so that the mean and variance both matter.
    const x = rng.normal(2 * 12 * 15, 3).map((v, i) => v + (i % 7));
    const out = dataOf((await session.run({ x: f32(x, dims) })).y);
    await session.release();
    expect(maxDiff(out, reference(x, dims, groups, eps, scale, bias))).toBeLessThan(1e-4);
  });
});
