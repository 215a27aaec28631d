import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPreset } from '../../models/build.ts';
import { ProtoWriter } from '../../models/builder/protobuf.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const concat = (w: ProtoWriter) => Buffer.concat(w.parts);

describe('fixture builder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ovserve-builder-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is deterministic: the same preset gives byte-identical files', () => {
    buildPreset('tiny-bert-embed', join(dir, 'again'));
    for (const file of ['onnx/model.onnx', 'tokenizer.json', 'config.json', '1_Pooling/config.json']) {
      expect(sha(join(dir, 'again', file))).toBe(sha(join(fixturePath('tiny-embed'), file)));
    }
  });

  it('writes the Hugging Face folder layout', () => {
    const config = JSON.parse(readFileSync(join(fixturePath('tiny-rerank'), 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'bert', architectures: ['BertForSequenceClassification'], id2label: { 0: 'LABEL_0' } });
  });

  it('encodes protobuf varints, negative int64 and fixed32 floats per the wire format', () => {
    expect([...concat(new ProtoWriter().int(1, 150))]).toEqual([0x08, 0x96, 0x01]);
    expect([...concat(new ProtoWriter().int(1, -1))]).toEqual([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect([...concat(new ProtoWriter().float(2, 1))]).toEqual([0x15, 0, 0, 0x80, 0x3f]);
    expect([...concat(new ProtoWriter().string(2, 'ab'))]).toEqual([0x12, 2, 0x61, 0x62]);
    expect([...concat(new ProtoWriter().message(3, (m) => m.int(1, 1)))]).toEqual([0x1a, 2, 0x08, 1]);
  });
});
