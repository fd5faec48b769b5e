// Optimized-model caching: the second load reads the saved optimized graph; results are identical;
// a damaged cache entry is rebuilt, never trusted.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { fixturePath, makeTempDir, maxAbsDiff, readF32, readJson } from '../helpers/fixtures.ts';

const golden = readJson('opt/golden.json');
let dir: string;
before(async () => {
  dir = await makeTempDir();
  await convertCheckpoint(fixturePath('opt'), join(dir, 'm'), { quant: 'int4' });
});
after(() => rm(dir, { recursive: true, force: true }));

async function firstLogits(cacheDir?: string, warnings: string[] = []): Promise<Float32Array> {
  const model = await Blip2Model.load(join(dir, 'm'), { cacheDir, onWarning: (m) => warnings.push(m) });
  const c = golden.cases[0];
  const enc = await model.encodePixels(readF32(`pixel_values/${c.image.replace(/\.[a-z]+$/, '')}.pixel_values.f32.bin`));
  const logits = await model.firstStepLogits(enc, [2]);
  await model.dispose();
  return logits;
}

describe('optimized-model cache', () => {
  it('saves each graph once, reloads it, and gives the same logits', async () => {
    const cache = join(dir, 'cache');
    const plain = await firstLogits();
    const first = await firstLogits(cache);
    const entries = readdirSync(cache).sort();
    assert.equal(entries.length, 3, entries.join(', '));
    assert.ok(entries.every((e) => /^(vision|qformer|decoder)-[0-9a-f]{20}$/.test(e)), entries.join(', '));
    const second = await firstLogits(cache);
    assert.deepEqual(readdirSync(cache).sort(), entries, 'no new entries on the second load');
    assert.ok(maxAbsDiff(first, plain) < 1e-4);
    assert.ok(maxAbsDiff(second, plain) < 1e-4);
  });

  it('a damaged entry is rebuilt with a warning', async () => {
    const cache = join(dir, 'cache');
    const decoder = readdirSync(cache).find((e) => e.startsWith('decoder-'))!;
    writeFileSync(join(cache, decoder, 'model.onnx'), 'garbage');
    const warnings: string[] = [];
    const logits = await firstLogits(cache, warnings);
    assert.match(warnings.join('\n'), /cache entry unusable, rebuilding/);
    assert.ok(maxAbsDiff(logits, await firstLogits()) < 1e-4);
    assert.ok(readdirSync(join(cache, decoder)).includes('model.onnx.data'));
  });
});
