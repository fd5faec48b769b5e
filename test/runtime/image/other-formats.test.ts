// The formats around HEIC and RAW that a phone or camera folder also holds, each made by a real
// encoder (libvips through sharp) in the test and decoded through decodeImage, the model's path:
// 16-bit PNG and TIFF, CMYK JPEG, animated GIF and WebP (first frame), a Google/Samsung motion
// photo (a JPEG with its video appended), and JPEG XL (cjxl's file, against djxl's decode).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { stopDecodeThread } from '../../../src/runtime/image/decode/decode-pool.ts';
import { decodeImage } from '../../../src/runtime/image/preprocess.ts';
import { photoFacts } from '../../../src/library/scan/photo-facts.ts';
import { sniffImageType } from '../../../src/library/scan/sniff.ts';
import { PHOTOS, REPO_ROOT } from '../../helpers/fixtures.ts';
import { requireTool } from '../../helpers/tools.ts';


let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'pa-other-formats-')); });
after(async () => { await stopDecodeThread(); await rm(dir, { recursive: true, force: true }); });

async function rgb8(input: string | Buffer): Promise<Buffer> {
  return sharp(input, { ignoreIcc: true }).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer();
}
function meanAbs(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

describe('formats around HEIC and RAW', () => {
  test('16-bit PNG and TIFF reduce to the 8-bit values (within 1: v/257 rounding vs v>>8)', async () => {
    const src = join(PHOTOS, 'astronaut.jpg');
    const eight = await rgb8(src);
    for (const [name, write] of [
      ['a16.png', (s: Sharp) => s.png()],
      ['a16.tif', (s: Sharp) => s.tiff({ compression: 'deflate' })],
    ] as const) {
      const file = join(dir, name);
      await write(sharp(src).toColourspace('rgb16')).toFile(file);
      assert.equal((await sharp(file).metadata()).depth, 'ushort', `${name} is 16-bit`);
      const ours = await decodeImage(file);
      assert.deepEqual([ours.width, ours.height], [512, 512]);
      let max = 0;
      for (let i = 0; i < eight.length; i++) max = Math.max(max, Math.abs(ours.data[i] - eight[i]));
      assert.ok(max <= 1, `${name}: max |Δ| ${max}`);
    }
  });

  test('CMYK JPEG: colours come back (mean |Δ| < 10 against the RGB original; read as RGB it would be > 40 off)', async () => {
    const src = join(PHOTOS, 'coffee.jpg');
    const file = join(dir, 'cmyk.jpg');
    await sharp(src).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(file);
    assert.equal((await sharp(file).metadata()).space, 'cmyk');
    const ours = await decodeImage(file);
    const orig = await rgb8(src);
    const m = meanAbs(ours.data, orig);
    // RGB → CMYK → RGB through libvips' CMYK profile costs about 8 on average (gamut), with or without
    // ICC handling on the way back; a CMYK JPEG taken for RGB is far worse.
    assert.ok(m < 10, `mean |Δ| ${m.toFixed(2)}`);
    // The same pixels with C, M, Y taken as R, G, B (no conversion) are nowhere near.
    const cmyk = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    const naive = new Uint8Array(orig.length);
    for (let i = 0, j = 0; i < naive.length; i += 3, j += 4) naive.set(cmyk.data.subarray(j, j + 3), i);
    assert.ok(meanAbs(naive, orig) > 40, 'a naive reading differs a lot');
  });

  for (const fmt of ['gif', 'webp'] as const) {
    test(`animated ${fmt.toUpperCase()}: the first frame`, async () => {
      const frame = (r: number, g: number, b: number) => sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g, b } } }).png().toBuffer();
      const file = join(dir, `anim.${fmt}`);
      await sharp([await frame(220, 30, 30), await frame(30, 30, 220), await frame(30, 220, 30)], { join: { animated: true } })
        [fmt]({ delay: 100 } as never)
        .toFile(file);
      assert.equal((await sharp(file).metadata()).pages, 3);
      const ours = await decodeImage(file);
      assert.deepEqual([ours.width, ours.height], [64, 48]);
      for (let i = 0; i < ours.data.length; i += 3) {
        assert.ok(ours.data[i] > 180 && ours.data[i + 2] < 80, `pixel ${i / 3} is the first frame's red`);
      }
    });
  }

  test('a motion photo (JPEG + appended MP4) is its JPEG: same pixels, facts readable', async () => {
    const jpeg = await readFile(join(PHOTOS, 'coffee.jpg'));
    // The video part as Google's MVIMG / Samsung files carry it: an ISO-BMFF stream after the EOI.
    const mp4 = Buffer.concat([
      Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.from([0, 0, 0, 0]), Buffer.from('isommp42'),
      Buffer.from([0, 0, 0, 0x10]), Buffer.from('mdat'), Buffer.alloc(8, 7),
    ]);
    const file = join(dir, 'PXL_20240101_120000000.MP.jpg');
    await writeFile(file, Buffer.concat([jpeg, mp4]));
    const ours = await decodeImage(file);
    assert.ok(Buffer.from(ours.data).equals(Buffer.from((await decodeImage(join(PHOTOS, 'coffee.jpg'))).data)));
    assert.equal((await photoFacts(file)).format, 'jpeg');
  });

  test('JPEG XL (cjxl): decoded by wasm libjxl within ±2 (mean < 0.5) of djxl; a damaged one is photo_unreadable', async () => {
    requireTool('djxl', 'libjxl-tools');
    const jxl = join(REPO_ROOT, 'test', 'fixtures', 'formats', 'chelsea.jxl');
    assert.equal(await sniffImageType(jxl), 'jxl');
    const ours = await decodeImage(jxl);
    assert.deepEqual([ours.width, ours.height], [451, 300]);
    assert.equal((await photoFacts(jxl)).format, 'jxl');
    const ref = join(dir, 'chelsea.ref.png');
    execFileSync('djxl', [jxl, ref], { stdio: 'ignore' });
    const want = await rgb8(ref);
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(ours.data[i] - want[i]));
    const m = meanAbs(ours.data, want);
    assert.ok(max <= 2 && m < 0.5, `max ${max}, mean ${m.toFixed(3)}`);
    const cut = join(dir, 'cut.jxl');
    await writeFile(cut, (await readFile(jxl)).subarray(0, 3000));
    await assert.rejects(decodeImage(cut), /cut\.jxl.*JPEG XL data is damaged/);
  });
});

describe('a very large panorama', () => {
  test('150 MP at 6:1 (JPEG) is decoded shrunk (long side 8192) with bounded memory; a 144 MP square stays refused', { timeout: 300_000 }, async () => {
    const { readFileSync: readSync, writeFileSync: writeSync } = await import('node:fs');
    const file = join(dir, 'pano.jpg');
    // Left third red, the rest blue: a real JPEG of 30000×5000 (a phone's sweep panorama is a JPEG).
    const blue = sharp({ create: { width: 30000, height: 5000, channels: 3, background: { r: 20, g: 40, b: 200 } } });
    const red = await sharp({ create: { width: 10000, height: 5000, channels: 3, background: { r: 200, g: 30, b: 20 } } }).png().toBuffer();
    await blue.composite([{ input: red, left: 0, top: 0 }]).jpeg({ quality: 85 }).toFile(file);
    const vmHwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
    const rssBefore = process.memoryUsage().rss / 2 ** 20;
    writeSync('/proc/self/clear_refs', '5'); // reset the peak to now
    const img = await decodeImage(file);
    const peakGrowth = vmHwm() - rssBefore;
    assert.deepEqual([img.width, img.height], [8192, 1365]);
    assert.ok(img.data[0] > 150 && img.data[2] < 60, 'the left is red');
    const last = (img.width * 10 + img.width - 1) * 3;
    assert.ok(img.data[last + 2] > 150 && img.data[last] < 60, 'the right is blue');
    // Decoded whole, 150 MP of RGB would be 430 MiB; shrunk on load (libjpeg's DCT scaling) while
    // streaming it grew by about 100 MiB here. (A PNG panorama cannot shrink on load: about 290 MiB.)
    assert.ok(peakGrowth < 160, `peak RSS grew by ${peakGrowth.toFixed(0)} MiB`);
    const facts = await photoFacts(file);
    assert.deepEqual([facts.width, facts.height], [30000, 5000]);

    const square = join(dir, 'square.png');
    await sharp({ create: { width: 12000, height: 12000, channels: 3, background: '#000' } }).png().toFile(square);
    await assert.rejects(decodeImage(square), /too large/);
  });
});
