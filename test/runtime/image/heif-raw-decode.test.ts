// HEIC/HEIF and camera RAW decoding against reference decodes made by real tools in the test:
// Debian's heif-convert (libheif 1.15, the same library family, its own HEVC decoder build) for HEIC
// and AVIF; for RAW the embedded preview's own bytes. Fixtures: test/fixtures/formats (README.md).
// Tolerance for HEIF, per channel value: mean |Δ| < 1, at most 0.5% of values with |Δ| > 4, max ≤ 12. libheif-js (1.19) upsamples
// chroma and converts YCbCr→RGB (and 10→8 bit) slightly differently from heif-convert 1.15, which
// shows at sharp colour edges; a wrong matrix, range, orientation or image would be tens off.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import exifReader from 'exif-reader';
import { findEmbeddedJpegs, rawMetadata } from '../../../src/runtime/image/decode/raw.ts';
import { stopDecodeThread } from '../../../src/runtime/image/decode/decode-pool.ts';
import type { RgbImage } from '../../../src/runtime/image/pil-resize.ts';
import { decodeImage, loadPixelValues, pixelValuesFromRgb } from '../../../src/runtime/image/preprocess.ts';
import { photoFacts } from '../../../src/library/scan/photo-facts.ts';
import { DEFAULT_BLIP2_PREPROCESS } from '../../../src/shared/preprocess-config.ts';
import { PHOTOS, REPO_ROOT } from '../../helpers/fixtures.ts';
import { requireTool, watchEventLoop } from '../../helpers/tools.ts';

const FORMATS = join(REPO_ROOT, 'test', 'fixtures', 'formats');
const fx = (name: string) => join(FORMATS, name);


let tmp: string;
before(async () => { tmp = await mkdtemp(join(tmpdir(), 'pa-formats-')); });
after(async () => { await stopDecodeThread(); await rm(tmp, { recursive: true, force: true }); });

/** heif-convert's decode of `file` (its PNG: 8-bit, or 16-bit for >8-bit sources) as 8-bit RGB. */
async function heifConvertReference(file: string): Promise<RgbImage> {
  const out = join(tmp, `${file.split('/').pop()}.ref.png`);
  execFileSync('heif-convert', [file, out], { stdio: 'ignore' });
  // A multi-image file becomes out-1.png, out-2.png, ... in file order (the primary first here).
  const written = await stat(out).then(() => out, () => out.replace(/\.png$/, '-1.png'));
  // ignoreIcc: our decode keeps the stored values as PIL does, so the reference must too.
  const { data, info } = await sharp(written, { ignoreIcc: true }).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

function diffStats(a: RgbImage, b: RgbImage): { max: number; mean: number; over4: number } {
  assert.deepEqual([a.width, a.height], [b.width, b.height], 'same dimensions');
  let max = 0;
  let sum = 0;
  let over4 = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (d > max) max = d;
    if (d > 4) over4++;
    sum += d;
  }
  return { max, mean: sum / a.data.length, over4: over4 / a.data.length };
}

/** LibRaw (wasm) against Debian's dcraw 9.28 on the same sensor data: LibRaw grew out of dcraw and
 *  keeps its pipeline (white balance, sRGB matrix, gamma, auto-brightness): mean |Δ| < 1, max ≤ 4. */
function assertRawClose(ours: RgbImage, ref: RgbImage): void {
  const { max, mean } = diffStats(ours, ref);
  assert.ok(mean < 1 && max <= 4, `LibRaw vs dcraw: mean ${mean.toFixed(3)}, max ${max}`);
}

/** The HEIF tolerance (see the header): mean < 1, at most 0.5% of values off by more than 4, none by more than 12. */
function assertClose(ours: RgbImage, ref: RgbImage): void {
  const { max, mean, over4 } = diffStats(ours, ref);
  assert.ok(mean < 1 && over4 <= 0.005 && max <= 12, `mean ${mean.toFixed(3)}, ${(over4 * 100).toFixed(3)}% over 4, max ${max}`);
}

describe('HEIC/HEIF through wasm libheif', () => {
  const cases: [file: string, width: number, height: number][] = [
    ['coffee.heic', 600, 400],
    ['coffee_orientation6.heic', 400, 600], // EXIF 6 but no irot: HEIF's transforms rule, shown as stored
    ['astronaut_10bit.heic', 512, 512],
    ['multi_primary_chelsea.heic', 451, 300], // the primary image (chelsea), not the second (rocket 640×427)
  ];
  for (const [file, width, height] of cases) {
    test(`${file}: ${width}×${height}, pixels match heif-convert's decode within the tolerance`, async () => {
      requireTool('heif-convert', 'libheif-examples');
      const ours = await decodeImage(fx(file));
      assert.deepEqual([ours.width, ours.height], [width, height]);
      assertClose(ours, await heifConvertReference(fx(file)));
    });
  }

  test('multi_primary_chelsea.heic\'s primary is a grid item (libheif wraps sizes the codec cannot hold in a grid), so the grid path is what decoded it', () => {
    requireTool('heif-info', 'libheif-examples');
    const dump = execFileSync('heif-info', ['-d', fx('multi_primary_chelsea.heic')], { encoding: 'utf8' });
    const primary = Number(/pitm[\s\S]*?item_ID: (\d+)/.exec(dump)?.[1]);
    const type = new RegExp(`item_ID: ${primary}\\n[^\\n]*\\n\\|? *\\| item_type: (\\w+)`).exec(dump)?.[1];
    assert.equal(type, 'grid', `primary item ${primary} is a ${type}`);
  });

  test('a phone-sized HEIC decodes on the decoder thread: this thread keeps running meanwhile', async () => {
    requireTool('heif-enc', 'libheif-examples');
    const png = join(tmp, 'big.png');
    const heic = join(tmp, 'big.heic');
    await sharp(join(PHOTOS, 'coffee.jpg')).resize(4032, 3024).png().toFile(png);
    execFileSync('heif-enc', ['-q', '40', '-o', heic, png], { stdio: 'ignore' });
    await decodeImage(fx('coffee.heic')); // the thread and the wasm are up
    const loop = watchEventLoop(5);
    const t0 = performance.now();
    const img = await decodeImage(heic);
    const took = performance.now() - t0;
    const worstGap = loop.stop();
    assert.deepEqual([img.width, img.height], [4032, 3024]);
    // The decode takes hundreds of ms; the event loop never stalls for anything near that.
    assert.ok(took > 3 * worstGap && worstGap < 150, `decode ${took.toFixed(0)} ms, worst event-loop gap ${worstGap.toFixed(0)} ms`);
  });

  test('the model input of a HEIC is its decoded RGB through the same PIL-exact path', async () => {
    const rgb = await decodeImage(fx('coffee.heic'));
    const { data, dims } = await loadPixelValues(fx('coffee.heic'), DEFAULT_BLIP2_PREPROCESS);
    assert.deepEqual(dims, [1, 3, DEFAULT_BLIP2_PREPROCESS.height, DEFAULT_BLIP2_PREPROCESS.width]);
    assert.deepEqual(data, pixelValuesFromRgb(rgb, DEFAULT_BLIP2_PREPROCESS));
  });

  test('a truncated HEIC is photo_unreadable naming the file and saying it is cut short', async () => {
    await assert.rejects(decodeImage(fx('corrupt_truncated.heic')), (e: any) => {
      assert.equal(e.code, 'photo_unreadable');
      assert.match(e.message, /corrupt_truncated\.heic.*truncated/);
      return true;
    });
    await assert.rejects(photoFacts(fx('corrupt_truncated.heic')), /corrupt_truncated\.heic.*truncated/);
  });

  test('facts: upright size, EXIF capture date with its offset; GPS is in the EXIF as for a JPEG', async () => {
    const f = await photoFacts(fx('coffee.heic'));
    assert.deepEqual([f.format, f.width, f.height, f.exifDate], ['heic', 600, 400, '2023-07-14T09:41:27+02:00']);
    const o6 = await photoFacts(fx('coffee_orientation6.heic'));
    assert.deepEqual([o6.width, o6.height], [400, 600]);
    const exif = exifReader((await sharp(fx('coffee.heic')).metadata()).exif!);
    assert.deepEqual(exif.GPSInfo?.GPSLatitude?.map((x: number) => Math.round(x * 100) / 100), [48, 51, 30.24]);
  });

  test('AVIF (heif-enc with aom): sharp decodes it, within the tolerance of heif-convert', async () => {
    requireTool('heif-convert', 'libheif-examples');
    assertClose(await decodeImage(fx('rocket.avif')), await heifConvertReference(fx('rocket.avif')));
  });
});

describe('camera RAW through the embedded preview', () => {
  test('the DNG is a DNG to dcraw (so the fixture is what it claims)', () => {
    requireTool('dcraw', 'dcraw');
    const info = execFileSync('dcraw', ['-i', '-v', fx('cat_preview.dng')], { encoding: 'utf8' });
    assert.match(info, /DNG Version: 1\.4\.0\.0/);
  });

  test('the largest embedded JPEG is found byte for byte; orientation and date come from the DNG', async () => {
    const bytes = await readFile(fx('cat_preview.dng'));
    const dngOnly = (await stat(fx('no_preview.dng'))).size;
    const [best] = findEmbeddedJpegs(bytes);
    assert.ok(best);
    assert.deepEqual(bytes.subarray(best.offset, best.offset + best.length), bytes.subarray(dngOnly));
    assert.deepEqual([best.width, best.height], [960, 639]);
    assert.equal(rawMetadata(bytes).orientation, 6);
    assert.deepEqual(findEmbeddedJpegs(await readFile(fx('no_preview.dng'))), []);
  });

  test('decode = the preview decoded by sharp and turned by the RAW orientation (exact)', async () => {
    const bytes = await readFile(fx('cat_preview.dng'));
    const preview = bytes.subarray((await stat(fx('no_preview.dng'))).size);
    const { data, info } = await sharp(preview, { ignoreIcc: true }).rotate(90).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const ours = await decodeImage(fx('cat_preview.dng'));
    assert.deepEqual([ours.width, ours.height], [639, 960]);
    assert.deepEqual([info.width, info.height], [639, 960]);
    assert.ok(Buffer.from(ours.data).equals(data), 'identical pixels');
    const f = await photoFacts(fx('cat_preview.dng'));
    assert.deepEqual([f.format, f.width, f.height, f.exifDate], ['raw', 639, 960, '2022-05-01T10:00:00']);
  });

  test('a RAW without a preview is demosaiced by LibRaw on the decoder thread: upright, date from the DNG, pixels as dcraw decodes them', async () => {
    requireTool('dcraw', 'dcraw');
    const ours = await decodeImage(fx('no_preview.dng'));
    assert.deepEqual([ours.width, ours.height], [106, 160], 'the 160×106 sensor image turned by Orientation 6');
    // dcraw (the program LibRaw grew from) with the camera's white balance, 8-bit sRGB, turned by the file's orientation.
    const ppm = execFileSync('dcraw', ['-c', '-w', '-h', fx('no_preview.dng')], { maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'ignore'] });
    const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.subarray(0, 32).toString('latin1'));
    assert.ok(header, 'dcraw wrote an 8-bit PPM');
    const [width, height] = [Number(header[1]), Number(header[2])];
    assertRawClose(ours, { data: new Uint8Array(ppm.subarray(header[0].length, header[0].length + width * height * 3)), width, height });
    const f = await photoFacts(fx('no_preview.dng'));
    assert.deepEqual([f.format, f.width, f.height, f.exifDate], ['raw', 106, 160, '2022-05-01T10:00:00']);
  });

  test('a truncated RAW is photo_unreadable by name, saying what is missing', async () => {
    await assert.rejects(photoFacts(fx('truncated.dng')), (e: any) => {
      assert.equal(e.code, 'photo_unreadable');
      assert.ok(e.message.includes('truncated.dng'), e.message);
      assert.match(e.message, /no embedded JPEG preview, and LibRaw cannot read the sensor data/);
      return true;
    });
  });
});
