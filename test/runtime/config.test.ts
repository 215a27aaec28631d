import { describe, expect, it } from 'vitest';
import { parseConfig, RuntimeError } from '../../runtime/index.ts';

const base = { name: 'm', task: 'embeddings', path: 'm' };

function configError(raw: unknown): string {
  try {
    parseConfig(raw, '/models');
  } catch (err) {
    expect(err).toBeInstanceOf(RuntimeError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('model repository config', () => {
  it('fills defaults and resolves paths against the config folder', () => {
    const config = parseConfig({ models: [base] }, '/srv/models');
    expect(config.models[0]).toMatchObject({
      name: 'm',
      path: '/srv/models/m',
      backend: 'auto',
      truncate: true,
      matryoshka: false,
      max_queued_requests: 512,
    });
  });

  it('names an unknown key instead of ignoring it', () => {
    expect(configError({ models: [{ ...base, max_batch_size: 4 }] })).toMatch(/models\[0\]\.max_batch_size/);
  });

  it('names the field with a wrong value', () => {
    expect(configError({ models: [{ ...base, max_wait_ms: -1 }] })).toMatch(/models\[0\]\.max_wait_ms/);
    expect(configError({ models: [{ ...base, task: 'chat' }] })).toMatch(/models\[0\]\.task/);
    expect(configError({ models: [{ ...base, pooling: 'max' }] })).toMatch(/models\[0\]\.pooling/);
  });

  it('rejects duplicate model names', () => {
    expect(configError({ models: [base, base] })).toMatch(/unique/);
  });
});
