// Execution provider selection: unavailable providers fall back to CPU with a clear message.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { createSession, resolveProviders } from '../../src/runtime/session.ts';
import { fixturePath, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
before(async () => {
  dir = await makeTempDir();
  await convertCheckpoint(fixturePath('opt'), join(dir, 'm'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('execution providers', () => {
  it('CPU needs no fallback', () => {
    const warnings: string[] = [];
    assert.deepEqual(resolveProviders('cpu', (m) => warnings.push(m)), ['cpu']);
    assert.deepEqual(warnings, []);
  });

  it('a provider this platform lacks falls back to CPU, saying so', () => {
    const warnings: string[] = [];
    const wanted = process.platform === 'darwin' ? 'dml' : 'coreml';
    assert.deepEqual(resolveProviders(wanted, (m) => warnings.push(m)), ['cpu']);
    assert.match(warnings[0], new RegExp(`"${wanted}" is not available.*using CPU`));
  });

  it('an unknown provider name is an invalid argument', () => {
    assert.throws(() => resolveProviders('tpu' as never), (e: any) => e.code === 'invalid_argument' && /tpu/.test(e.message));
  });

  it('a provider that cannot start (CUDA without a GPU) still yields a working CPU session', async () => {
    const warnings: string[] = [];
    const s = await createSession(join(dir, 'm', 'qformer.onnx'), { executionProvider: 'cuda', onWarning: (m) => warnings.push(m) });
    assert.ok(s.inputNames.includes('image_embeds'));
    await s.release();
    // Either CUDA really ran (a GPU machine) or we were told why not.
    if (warnings.length) assert.match(warnings.join('\n'), /cuda.*using CPU/);
  });
});
