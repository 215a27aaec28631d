// What `ovserve models` calls complete and what a `source: hf:` pull picks from a repo listing.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missingFiles, servingFiles } from '../../wrangler-free-local/model-folders.ts';
import { globMatcher, parseRepoRef, parseSource, defaultPullDir } from '../../wrangler-free-local/pull.ts';

const dir = mkdtempSync(join(tmpdir(), 'ovserve-folders-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function folder(name: string, files: string[]): string {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), '{}');
  }
  return root;
}

describe('missingFiles', () => {
  it('a text model needs config.json, tokenizer.json and a model file the backend loads', () => {
    const path = folder('text', ['config.json', 'tokenizer.json', 'onnx/model.onnx']);
    expect(missingFiles({ task: 'embeddings', path, backend: 'auto' })).toEqual([]);
    expect(missingFiles({ task: 'rerank', path: folder('text2', ['config.json']), backend: 'onnxruntime' })).toEqual(['tokenizer.json', 'model file (onnx/model.onnx or model.onnx)']);
  });

  it('finds version folders and OpenVINO IRs (with their .bin), and a configured file', () => {
    expect(missingFiles({ task: 'tensor', path: folder('versions', ['1/model.onnx', '3/model.onnx']), backend: 'auto' })).toEqual([]);
    expect(missingFiles({ task: 'tensor', path: folder('ir', ['openvino_model.xml']), backend: 'openvino' })).toEqual(['openvino_model.bin']);
    expect(missingFiles({ task: 'tensor', path: folder('custom', ['graphs/m.onnx']), backend: 'auto', file: 'graphs/m.onnx' })).toEqual([]);
    expect(missingFiles({ task: 'tensor', path: folder('custom2', []), backend: 'auto', file: 'graphs/m.onnx' })).toEqual(['graphs/m.onnx']);
  });

  it('an unfinished download makes a folder incomplete', () => {
    const path = folder('partial', ['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/model.onnx_data.part']);
    expect(missingFiles({ task: 'embeddings', path, backend: 'auto' })).toEqual(['onnx/model.onnx_data (unfinished download)']);
  });

  it('a pipeline needs model_index.json, its tokenizer and scheduler, and three networks', () => {
    const nets = ['text_encoder', 'unet', 'vae_decoder'].flatMap((n) => [`${n}/config.json`, `${n}/model.onnx`]);
    const path = folder('sd', ['model_index.json', 'tokenizer/tokenizer.json', 'scheduler/scheduler_config.json', ...nets]);
    expect(missingFiles({ task: 'text-to-image', path, backend: 'auto' })).toEqual([]);
    const broken = folder('sd2', ['model_index.json', 'tokenizer/tokenizer.json', ...nets.filter((f) => f !== 'unet/model.onnx')]);
    expect(missingFiles({ task: 'text-to-image', path: broken, backend: 'auto' })).toEqual(['scheduler/scheduler_config.json', 'unet/model file (onnx/model.onnx or model.onnx or openvino_model.xml or model.xml)']);
  });
});

describe('servingFiles', () => {
  const repo = [
    'README.md', '.gitattributes', 'config.json', 'tokenizer.json', 'tokenizer_config.json', '1_Pooling/config.json',
    'pytorch_model.bin', 'model.safetensors', 'tf_model.h5',
    'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_quantized.onnx', 'onnx/model_O4.onnx',
    'openvino/openvino_model.xml', 'openvino/openvino_model.bin',
  ];

  it('takes the metadata and the one model file the backend opens, with its external data', () => {
    expect(servingFiles({ task: 'embeddings', backend: 'auto' }, repo)).toEqual([
      'config.json', 'tokenizer.json', 'tokenizer_config.json', '1_Pooling/config.json', 'onnx/model.onnx', 'onnx/model.onnx_data',
    ]);
  });

  it('honours a configured file and OpenVINO', () => {
    expect(servingFiles({ task: 'embeddings', backend: 'auto', file: 'onnx/model_quantized.onnx' }, repo)).toContain('onnx/model_quantized.onnx');
    expect(servingFiles({ task: 'embeddings', backend: 'openvino', file: 'openvino/openvino_model.xml' }, repo).filter((p) => !p.endsWith('.json'))).toEqual(['openvino/openvino_model.xml', 'openvino/openvino_model.bin']);
    expect(() => servingFiles({ task: 'embeddings', backend: 'auto', file: 'nope.onnx' }, repo)).toThrow(/no model file/);
  });

  it('takes each network of a pipeline', () => {
    const sd = ['model_index.json', 'scheduler/scheduler_config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'safety_checker/model.onnx',
      ...['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'].flatMap((n) => [`${n}/config.json`, `${n}/model.onnx`]), 'unet/model.onnx_data', 'unet/diffusion_pytorch_model.safetensors'];
    const picked = servingFiles({ task: 'text-to-image', backend: 'auto' }, sd);
    expect(picked).toContain('unet/model.onnx_data');
    expect(picked).toContain('vae_encoder/model.onnx');
    expect(picked).not.toContain('safety_checker/model.onnx');
    expect(picked).not.toContain('unet/diffusion_pytorch_model.safetensors');
    expect(() => servingFiles({ task: 'text-to-image', backend: 'auto' }, sd.filter((p) => p !== 'unet/model.onnx'))).toThrow(/unet model/);
  });
});

describe('repo references and patterns', () => {
  it('parses org/name[@revision] and hf: sources, and names the default folder', () => {
    expect(parseRepoRef('org/name')).toEqual({ repo: 'org/name', revision: 'main' });
    expect(parseRepoRef('org/name@refs/pr/1')).toEqual({ repo: 'org/name', revision: 'refs/pr/1' });
    expect(parseSource('hf:gpt2@abc')).toEqual({ repo: 'gpt2', revision: 'abc' });
    expect(() => parseRepoRef('../etc')).toThrow(/invalid repo/);
    expect(() => parseSource('s3://x')).toThrow(/unknown source/);
    expect(defaultPullDir('org/name')).toBe(join('models', 'org--name'));
  });

  it('matches shell-style patterns, * crossing folders', () => {
    expect(globMatcher('*.json')('1_Pooling/config.json')).toBe(true);
    expect(globMatcher('onnx/*')('onnx/model.onnx')).toBe(true);
    expect(globMatcher('onnx/model.onnx')('onnx/model.onnx_data')).toBe(false);
    expect(globMatcher('model.[ox]*')('model.onnx')).toBe(true);
    expect(globMatcher('model.?nnx')('model.onnx')).toBe(true);
    expect(globMatcher('a+b(c).json')('a+b(c).json')).toBe(true);
  });
});
