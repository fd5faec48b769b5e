// Grid thumbnails on real photos: upright, WebP, within size×size, cached by content hash.
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { errorCode } from '../../src/shared/errors.ts';
import { contentHash } from '../../src/library/scan/hash.ts';
import { thumbnail, thumbnailPath } from '../../src/library/thumbnails.ts';
import { makeTempDir, PHOTOS } from '../helpers/fixtures.ts';

let dir: string;
let cache: string;
before(async () => {
  dir = await makeTempDir();
  cache = join(dir, 'cache');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('EXIF-rotated photo gives an upright WebP inside size×size, stored under its hash', async () => {
  const file = join(PHOTOS, 'coffee_exif_orientation6.jpg'); // stored 400×600, shown 600×400
  const hash = await contentHash(file);
  const out = await thumbnail(file, hash, cache, 256);
  assert.equal(out, join(cache, hash.slice(0, 2), `${hash}-256.webp`));
  assert.equal(out, thumbnailPath(cache, hash, 256));
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'webp');
  assert.deepEqual([meta.width, meta.height], [256, 171]); // landscape: the orientation was applied
  assert.equal(meta.orientation, undefined); // and not left for viewers to apply a second time
  assert.deepEqual(readdirSync(join(cache, hash.slice(0, 2))), [`${hash}-256.webp`]); // no temp files left

  // Upright means the same picture as the unrotated original (coffee.jpg), not merely the same shape.
  const ref = await sharp(join(PHOTOS, 'coffee.jpg')).resize(256, 171).removeAlpha().raw().toBuffer();
  const got = await sharp(out).removeAlpha().raw().toBuffer();
  let diff = 0;
  for (let i = 0; i < ref.length; i++) diff += Math.abs(ref[i] - got[i]);
  assert.ok(diff / ref.length < 12, `mean abs difference ${(diff / ref.length).toFixed(1)}`);
});

test('default size 320; small photos are not enlarged', async () => {
  for (const [name, w, h] of [['hubble_deep_field.jpg', 320, 279], ['camera_gray.png', 320, 320]] as const) {
    const file = join(PHOTOS, name);
    const meta = await sharp(await thumbnail(file, await contentHash(file), cache)).metadata();
    assert.deepEqual([meta.width, meta.height], [w, h], name);
  }
  const small = join(dir, 'small.png');
  await sharp(join(PHOTOS, 'chelsea.jpg')).resize(100).png().toFile(small);
  const meta = await sharp(await thumbnail(small, await contentHash(small), cache, 320)).metadata();
  assert.deepEqual([meta.width, meta.height], [100, 67]);
});

test('a cache hit returns the stored file without decoding the photo again', async () => {
  const file = join(dir, 'rocket.jpg');
  copyFileSync(join(PHOTOS, 'rocket.jpg'), file);
  const hash = await contentHash(file);
  const first = await thumbnail(file, hash, cache, 128);
  const mtime = statSync(first).mtimeMs;
  // Replace the source with junk: a decode would now fail, so success proves no decode happened.
  writeFileSync(file, 'no longer a photo');
  const started = performance.now();
  const second = await thumbnail(file, hash, cache, 128);
  const ms = performance.now() - started;
  assert.equal(second, first);
  assert.equal(statSync(second).mtimeMs, mtime, 'the cached file was not rewritten');
  assert.ok(ms < 50, `cache hit took ${ms.toFixed(1)} ms`);
  // A different size is a different cache entry, and that one does need the (now broken) photo.
  await assert.rejects(thumbnail(file, hash, cache, 64), (err) => errorCode(err) === 'photo_unreadable');
});

test('bad input: undecodable photo, malformed hash, bad size', async () => {
  const text = join(dir, 'text.jpg');
  writeFileSync(text, 'hello');
  await assert.rejects(thumbnail(text, 'ab'.repeat(32), cache), (err: Error) => {
    assert.equal(errorCode(err), 'photo_unreadable');
    assert.match(err.message, /text\.jpg/);
    return true;
  });
  assert.deepEqual(readdirSync(join(cache, 'ab')), [], 'no temp file is left behind');
  await assert.rejects(thumbnail(text, '../../etc/passwd', cache), (err) => errorCode(err) === 'invalid_argument');
  await assert.rejects(thumbnail(text, 'ab'.repeat(32), cache, 0), (err) => errorCode(err) === 'invalid_argument');
  await assert.rejects(thumbnail(join(dir, 'missing.jpg'), 'cd'.repeat(32), cache), (err: Error) =>
    errorCode(err) === 'photo_unreadable' && /does not exist/.test(err.message));
});
