// The official openai client's images.generate and images.edit, unchanged, against a listening
// server on the tiny-sd fixture: on /v3, /v1 and Seldon's per-model base URL; PNGs decoded with a
// library; OVMS's extras; every malformed request a 4xx; the OIP infer route for the same model.
import { decode, encode } from 'fast-png';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { specErrors, specsAvailable } from '../helpers/specs.ts';

/** OVMS's extras and sizes beyond OpenAI's list: the client passes them through as sent. */
type Params = OpenAI.Images.ImageGenerateParamsNonStreaming;
const withExtras = (params: object) => params as Params;
const extras = { num_inference_steps: 3, guidance_scale: 7.5 };

const pngSize = (b64: string | undefined) => {
  const image = decode(Buffer.from(b64 ?? '', 'base64'));
  return `${image.width}x${image.height}`;
};

describe('openai images client against a listening server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let client: OpenAI;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([{ fixture: 'tiny-sd', task: 'text-to-image', name: 'tiny-sd' }]));
    client = new OpenAI({ baseURL: `${server.url}/v3`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('images.generate: n PNGs of the size asked, on /v3, /v1 and the Seldon base URL', async () => {
    for (const baseURL of [`${server.url}/v3`, `${server.url}/v1`, `${server.url}/v2/models/tiny-sd/infer`]) {
      const c = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
      const r = await c.images.generate(withExtras({ model: 'tiny-sd', prompt: 'a lighthouse at dusk', n: 2, size: '64x32', response_format: 'b64_json', ...extras, rng_seed: 1 }));
      if (specsAvailable) expect(specErrors('openai', 'ImagesResponse', r)).toEqual([]);
      expect(r.data).toHaveLength(2);
      expect(r.data?.map((d) => pngSize(d.b64_json))).toEqual(['64x32', '64x32']);
      expect(r.created).toBeGreaterThan(1_700_000_000);
      expect(r.usage?.input_tokens).toBeGreaterThan(0);
    }
  });

  it('the same prompt, size, steps and seed give byte-identical PNGs; seed is rng_seed', async () => {
    const ask = (seed: object) => client.images.generate(withExtras({ model: 'tiny-sd', prompt: 'a red boat', size: '64x64', ...extras, ...seed }));
    const [a, b, c, other] = await Promise.all([ask({ rng_seed: 42 }), ask({ seed: 42 }), ask({ rng_seed: 42 }), ask({ rng_seed: 43 })]);
    const first = a.data?.[0]?.b64_json;
    expect(b.data?.[0]?.b64_json).toBe(first);
    expect(c.data?.[0]?.b64_json).toBe(first);
    expect(other.data?.[0]?.b64_json).not.toBe(first);
  });

  it('images.edit: image-to-image with strength, and inpainting with a mask, as multipart', async () => {
    const source = (await client.images.generate(withExtras({ model: 'tiny-sd', prompt: 'a field', size: '64x64', ...extras, rng_seed: 3 }))).data?.[0]?.b64_json ?? '';
    const image = await toFile(Buffer.from(source, 'base64'), 'source.png', { type: 'image/png' });
    const edited = await client.images.edit({ model: 'tiny-sd', image, prompt: 'a field at night', n: 2, size: '64x64', response_format: 'b64_json', ...({ strength: 0.6, num_inference_steps: 4, rng_seed: 5 } as object) } as OpenAI.Images.ImageEditParamsNonStreaming);
    expect(edited.data?.map((d) => pngSize(d.b64_json))).toEqual(['64x64', '64x64']);
    const rgba = new Uint8Array(64 * 64 * 4).fill(255);
    for (let p = 0; p < 64 * 32; p++) rgba[p * 4 + 3] = 0; // the top half transparent: repainted
    const mask = await toFile(Buffer.from(encode({ width: 64, height: 64, data: rgba, channels: 4 })), 'mask.png', { type: 'image/png' });
    const painted = await client.images.edit({ model: 'tiny-sd', image: await toFile(Buffer.from(source, 'base64'), 'source.png', { type: 'image/png' }), mask, prompt: 'a moon', size: '64x64', ...({ strength: 1, num_inference_steps: 4, rng_seed: 5 } as object) } as OpenAI.Images.ImageEditParamsNonStreaming);
    expect(pngSize(painted.data?.[0]?.b64_json)).toBe('64x64');
  });

  const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const base = { model: 'tiny-sd', prompt: 'x', size: '64x64', num_inference_steps: 2 };
  it.each([
    ['response_format url', { ...base, response_format: 'url' }, 'response_format'],
    ['a size not a multiple of 16', { ...base, size: '72x64' }, 'size'],
    ['a size that is not WxH', { ...base, size: 'large' }, 'size'],
    ['a size beyond the limit', { ...base, size: '2048x2048' }, 'size'],
    ['n beyond the API limit', { ...base, n: 11 }, 'n'],
    ['n beyond the model maximum', { ...base, n: 5 }, 'n'],
    ['an unknown extra', { ...base, sharpness: 3 }, 'sharpness'],
    ['strength on generations', { ...base, strength: 0.5 }, 'strength'],
    ['zero steps', { ...base, num_inference_steps: 0 }, 'num_inference_steps'],
    ['too many steps', { ...base, num_inference_steps: 151 }, 'num_inference_steps'],
    ['negative guidance', { ...base, guidance_scale: -1 }, 'guidance_scale'],
    ['an empty prompt', { ...base, prompt: '' }, 'prompt'],
    ['no prompt', { model: 'tiny-sd' }, 'prompt'],
    ['two different seeds', { ...base, seed: 1, rng_seed: 2 }, 'rng_seed'],
    ['an output format this server does not write', { ...base, output_format: 'webp' }, 'output_format'],
    ['a fractional n', { ...base, n: 1.5 }, 'n'],
  ])('generations: %s is a 400 naming %s', async (_, body, param) => {
    const res = await post('/v3/images/generations', body);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { param: string; type: string } };
    expect(error).toMatchObject({ type: 'invalid_request_error', param });
  });

  const form = (fields: Record<string, string | Blob>) => {
    const data = new FormData();
    for (const [k, value] of Object.entries(fields)) data.append(k, value);
    return fetch(`${server.url}/v3/images/edits`, { method: 'POST', body: data });
  };
  const png = (width: number, height: number) => new Blob([encode({ width, height, data: new Uint8Array(width * height * 3), channels: 3 })], { type: 'image/png' });
  it.each([
    ['no image', () => ({ model: 'tiny-sd', prompt: 'x', size: '64x64' }), 'image'],
    ['an image that is not a PNG', () => ({ model: 'tiny-sd', prompt: 'x', image: new Blob([new Uint8Array([1, 2, 3, 4])], { type: 'image/png' }) }), 'image'],
    ['an image larger than max_image_side', () => ({ model: 'tiny-sd', prompt: 'x', image: png(1100, 8) }), 'image'],
    ['a mask that is not a PNG', () => ({ model: 'tiny-sd', prompt: 'x', image: png(64, 64), mask: new Blob(['nope'], { type: 'image/png' }), size: '64x64' }), 'mask'],
    ['strength above 1', () => ({ model: 'tiny-sd', prompt: 'x', image: png(64, 64), strength: '1.5' }), 'strength'],
    ['image as text', () => ({ model: 'tiny-sd', prompt: 'x', image: 'not a file' }), 'image'],
  ])('edits: %s is a 400 naming %s', async (_, fields, param) => {
    const res = await form(fields());
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe(param);
  });

  it('edits as JSON is a 400 (multipart is required), and the server keeps serving', async () => {
    const res = await post('/v3/images/edits', { model: 'tiny-sd', prompt: 'x' });
    expect(res.status).toBe(400);
    const ok = await client.images.generate(withExtras({ model: 'tiny-sd', prompt: 'ok', size: '64x64', num_inference_steps: 1 }));
    expect(ok.data).toHaveLength(1);
  });

  it('the Open Inference Protocol infers the same model: a prompt in, base64 PNGs out', async () => {
    const res = await post('/v2/models/tiny-sd/infer', { inputs: [{ name: 'prompt', datatype: 'BYTES', shape: [1], data: ['a lighthouse'] }], parameters: { n: 2, width: 32, height: 64, num_inference_steps: 2, seed: 4 } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outputs: Array<{ name: string; datatype: string; shape: number[]; data: string[] }> };
    expect(body.outputs[0]).toMatchObject({ name: 'image', datatype: 'BYTES', shape: [2] });
    expect(body.outputs[0]?.data.map(pngSize)).toEqual(['32x64', '32x64']);
  });
});
