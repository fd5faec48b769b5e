// Loading a model checks its files: sizes always, every sha256 once (then a stamp keeps loads cheap
// until a file changes), so a damaged folder is refused with the files named instead of running.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { fixturePath, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
before(async () => {
  dir = await makeTempDir();
  await convertCheckpoint(fixturePath('opt'), join(dir, 'm'), { quant: 'int8' });
});
after(() => rm(dir, { recursive: true, force: true }));

test('a load verifies checksums once, then again only for a changed file, and refuses a damaged one', async () => {
  const m = join(dir, 'm');
  await (await Blip2Model.load(m)).dispose();
  assert.ok(existsSync(join(m, '.verified.json')), 'no stamp after a verified load');
  // Same size, one byte different, newer mtime: only a checksum sees it.
  const data = join(m, 'qformer.onnx.data');
  const bytes = await readFile(data);
  bytes[100] ^= 0x5a;
  await writeFile(data, bytes);
  const later = new Date(Date.now() + 5000);
  await utimes(data, later, later);
  await assert.rejects(Blip2Model.load(m), (e: any) => {
    assert.equal(e.code, 'model_invalid');
    assert.match(e.message, /qformer\.onnx\.data.*pull or convert the model again/);
    return true;
  });
  bytes[100] ^= 0x5a;
  await writeFile(data, bytes);
  await (await Blip2Model.load(m)).dispose();
});
