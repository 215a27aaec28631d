// The fused rewrite of a Llama decoder (runtime/onnx/fused-llama.ts) and its runtime-owned KV
// cache (runtime/backends/owned-kv-session.ts), step by step against the graph as exported:
// logits within 1e-4 for prompts of different lengths in one run, at every prompt position, over
// decode steps that cross the cache's growth boundary, after rows leave, reorder and fork.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeModel, type NodeProto } from '../../runtime/onnx/model-proto.ts';
import { preparedModelFile } from '../../runtime/onnx/prepare.ts';
import { copyFixture } from '../helpers/fixtures.ts';
import { argmax, maxAbsDiff, openDecoder, rowOf, teacherForcedAgreement, vocabOf, type OpenedDecoder } from '../helpers/decoder-sessions.ts';

const TOLERANCE = 1e-4;

/** The nodes of a graph and of its If branches. */
const withBranches = (list: NodeProto[]): NodeProto[] => list.flatMap((n) => [n, ...n.attribute.flatMap((a) => (a.g ? withBranches(a.g.node) : []))]);

describe('fused Llama decoder with a runtime-owned KV cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-fused-'));
  const modelDir = join(dir, 'chat');
  const lines: string[] = [];
  let vocab: number;
  let reference: OpenedDecoder;
  let fused: OpenedDecoder;
  let fusedFile: string;

  beforeAll(async () => {
    copyFixture('tiny-chat', modelDir);
    vocab = vocabOf(modelDir);
    const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    fusedFile = await preparedModelFile(join(modelDir, 'onnx', 'model.onnx'), { quantize: 'none', fuse: config, decoder: true, log: (l) => lines.push(l) });
    [reference, fused] = await Promise.all([openDecoder(modelDir), openDecoder(modelDir, fusedFile)]);
  });
  // Each test starts from empty sessions, whatever the one before left.
  beforeEach(() => {
    reference.session.reset();
    fused.session.reset();
  });
  afterAll(async () => {
    await Promise.all([reference.backend.dispose(), fused.backend.dispose()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is rebuilt once into the cache, in onnxruntime contrib ops, reading the cache in place and returning only the new K/V', async () => {
    expect(lines.some((l) => l.startsWith('fuse: rebuilt as a fused decoder'))).toBe(true);
    expect(existsSync(fusedFile)).toBe(true);
    const again = await preparedModelFile(join(modelDir, 'onnx', 'model.onnx'), { quantize: 'none', fuse: JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')), decoder: true, log: (l) => lines.push(l) });
    expect(again).toBe(fusedFile);
    expect(lines.filter((l) => l.startsWith('fuse: rebuilt'))).toHaveLength(1);
    // Attention sits in If branches (both token groups, or the first alone): nodes include theirs.
    const top = decodeModel(readFileSync(fusedFile)).graph.node;
    const nodes = withBranches(top);
    expect(top.filter((n) => n.opType === 'If')).toHaveLength(2); // one per layer
    const ops = new Set(nodes.map((n) => n.opType));
    for (const op of ['FusedMatMul', 'RotaryEmbedding', 'SkipSimplifiedLayerNormalization', 'SimplifiedLayerNormalization']) expect(ops).toContain(op);
    // The first group's cache is read in place: only attention's MatMuls (and a Shape) read its past
    // buffers. The second group's (a prompt chunk's) is sliced to the span its mask names, then read.
    const readersOf = (pattern: RegExp) => [...new Set(nodes.filter((n) => n.input.some((i) => pattern.test(i))).map((n) => n.opType))].sort();
    expect(readersOf(/^past_key_values\./)).toEqual(['FusedMatMul', 'MatMul', 'Shape']);
    expect(readersOf(/^b\.past_key_values\./)).toEqual(['Slice']);
    expect(fused.backend.outputs.map((o) => o.name)).toEqual(['logits', ...Array.from({ length: 2 }, (_, l) => [`new.${l}.key`, `new.${l}.value`]).flat()]);
  });

  it('matches the exported graph for prompts of different lengths in one run, at every position', async () => {
    const prompts = [[5, 77, 301, 9, 1200, 44, 8, 19], [5, 77, 301], [900, 3, 14, 15, 92]];
    const every = prompts.map(() => true);
    const [a, b] = [await reference.session.prefill(prompts, every), await fused.session.prefill(prompts, every)];
    for (const [row, prompt] of prompts.entries()) {
      for (let t = 0; t < prompt.length; t++) expect(maxAbsDiff(a.at(row, t), b.at(row, t))).toBeLessThan(TOLERANCE);
    }
  });

  it('matches it for a batch whose tokens together exceed the model context (each token has its own rotary position)', async () => {
    const context = Number((JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { max_position_embeddings: number }).max_position_embeddings);
    const width = Math.ceil(context / 3) + 10;
    const prompts = Array.from({ length: 3 }, (_, r) => Array.from({ length: width }, (_, t) => (t * 17 + r * 101 + 3) % vocab));
    expect(prompts.length * width).toBeGreaterThan(context);
    const [a, b] = [await reference.session.prefill(prompts), await fused.session.prefill(prompts)];
    prompts.forEach((_, row) => expect(maxAbsDiff(a.last(row), b.last(row))).toBeLessThan(TOLERANCE));
  });

  it('computes only the last position unless every position is asked for (prompt logprobs)', async () => {
    const prompts = [[5, 77, 301, 9], [900, 3], [14, 15, 92]];
    const a = await reference.session.prefill(prompts);
    const b = await fused.session.prefill(prompts, [false, true, false]);
    prompts.forEach((_, row) => expect(maxAbsDiff(a.last(row), b.last(row))).toBeLessThan(TOLERANCE));
    expect(maxAbsDiff(a.at(1, 0), b.at(1, 0))).toBeLessThan(TOLERANCE);
    expect(() => b.at(0, 1)).toThrow(/not asked for/);
  });

  it('decodes in step past the cache growth boundary, after rows leave, reorder and fork', async () => {
    const prompts = [[5, 77, 301, 9, 1200, 44, 8, 19, 20, 21], [5, 77, 301], [900, 3, 14, 15, 92]];
    // A fused session of its own (shadowing the shared one, whose buffers have room from the tests before).
    const fused = await openDecoder(modelDir, fusedFile);
    const sessions = [reference.session, fused.session];
    const prefills = await Promise.all(sessions.map((s) => s.prefill(prompts)));
    let tokens = prompts.map((_, row) => argmax(prefills[0]!.last(row)));
    let worst = 0;
    const step = async () => {
      const [a, b] = [await reference.session.decode(tokens), await fused.session.decode(tokens)];
      worst = Math.max(worst, maxAbsDiff(a, b));
      tokens = tokens.map((_, r) => argmax(rowOf(a, r, vocab)));
      expect(tokens).toEqual(tokens.map((_, r) => argmax(rowOf(b, r, vocab))));
    };
    // Row 0 reaches 70 positions: past the first 64, rows moved in place within the buffers
    // (allocated for 3 rows); the fork below makes 4 rows, past the allocation: re-allocated.
    for (let i = 0; i < 60; i++) await step();
    for (const s of sessions) s.keepRows([2, 0]); // row 1 leaves, the others swap
    tokens = [tokens[2]!, tokens[0]!];
    for (let i = 0; i < 5; i++) await step();
    for (const s of sessions) s.fork(1, 2); // two copies of the longest row
    tokens = [...tokens, tokens[1]!, tokens[1]!];
    for (let i = 0; i < 5; i++) await step();
    for (const s of sessions) s.keepRows([1, 3]); // increasing order: compacted in place
    tokens = [tokens[1]!, tokens[3]!];
    for (let i = 0; i < 3; i++) await step();
    expect(worst).toBeLessThan(TOLERANCE);
    expect(fused.session.rows).toBe(2);
    reference.session.reset();
    await fused.backend.dispose();
  });

  it('teacher-forced over 128 steps: every top-1 agrees', async () => {
    const prompt = Array.from({ length: 16 }, (_, t) => 3 + ((t * 104729) % (vocab - 3)));
    const r = await teacherForcedAgreement(reference.session, fused.session, prompt, 128);
    expect(r.agree).toBe(128);
    expect(r.maxAbs).toBeLessThan(TOLERANCE);
  });

  it.each([
    { quantize: 'int8' as const, floor: 0.9 },
    { quantize: 'q4' as const, floor: 0.9 },
  ])('fused $quantize follows fp32 (teacher-forced top-1 agreement over 128 steps)', async ({ quantize, floor }) => {
    const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const file = await preparedModelFile(join(modelDir, 'onnx', 'model.onnx'), { quantize, fuse: config, decoder: true, log: (l) => lines.push(l) });
    const graph = decodeModel(readFileSync(file)).graph;
    const ops = new Set(graph.node.map((n) => n.opType));
    expect(ops).toContain('MatMulNBits');
    expect(ops).not.toContain('MatMulInteger');
    // The FP32 weights the quantized ones replace are gone, though attention sits in If branches:
    // every initializer left is read by some node, a branch's included.
    const read = new Set(withBranches(graph.node).flatMap((n) => n.input));
    expect(graph.initializer.map((t) => t.name).filter((name) => !read.has(name as string))).toEqual([]);
    const candidate = await openDecoder(modelDir, file);
    const prompt = Array.from({ length: 16 }, (_, t) => 3 + ((t * 7919) % (vocab - 3)));
    const r = await teacherForcedAgreement(reference.session, candidate.session, prompt, 128);
    await candidate.backend.dispose();
    console.log(`tiny-chat fused ${quantize}: top-1 agreement ${r.agree}/128 with fp32, logits max |diff| ${r.maxAbs.toFixed(4)}`);
    expect(r.agree / 128).toBeGreaterThanOrEqual(floor);
  });
});

describe('models the fusion does not cover', () => {
  it('are served as exported, with the reason logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovserve-unfusable-'));
    copyFixture('tiny-chat', join(dir, 'chat'));
    const lines: string[] = [];
    const source = join(dir, 'chat', 'onnx', 'model.onnx');
    const config = JSON.parse(readFileSync(join(dir, 'chat', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(await preparedModelFile(source, { quantize: 'none', fuse: { ...config, model_type: 'gpt2' }, decoder: true, log: (l) => lines.push(l) })).toBe(source);
    expect(lines).toEqual(['fuse: not applied (model_type "gpt2" is not a Llama-family decoder); serving the graph as exported']);
    // A Llama config whose graph lacks the weights by their names (here: one more layer than the graph has).
    expect(await preparedModelFile(source, { quantize: 'none', fuse: { ...config, num_hidden_layers: 3 }, decoder: true, log: (l) => lines.push(l) })).toBe(source);
    expect(lines[1]).toMatch(/^fuse: not applied \(no initializer model\.layers\.2\.input_layernorm\.weight\)/);
    rmSync(dir, { recursive: true, force: true });
  });
});
