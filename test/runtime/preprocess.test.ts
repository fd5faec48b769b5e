// Image preprocessing against Hugging Face's BlipImageProcessor goldens: the PIL bicubic resize and
// the float32 normalisation must be bit-exact; decoding (sharp vs PIL) is checked separately, plus
// EXIF orientation, other formats, and that every kind of bad file becomes a clear 'photo_unreadable'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { resizeBicubicPil, type RgbImage } from '../../src/runtime/image/pil-resize.ts';
import { decodeImage, loadPixelValues, pixelValuesFromRgb } from '../../src/runtime/image/preprocess.ts';
import { DEFAULT_BLIP2_PREPROCESS, preprocessConfigFromHf } from '../../src/shared/preprocess-config.ts';

const FIX = '/work/shared/fixtures/hf-blip2';
const PHOTOS = '/work/shared/photos';

interface FixtureImage {
  image: string;
  decoded: { width: number; height: number; rgb_file: string; rgb_shape: [number, number, number] };
  pixel_values: { file: string; shape: [number, number, number] };
}
const manifest = JSON.parse(await readFile(join(FIX, 'preprocessing.json'), 'utf8')) as { images: FixtureImage[] };
const hfConfig = JSON.parse(await readFile(join(FIX, 'preprocessor_config.json'), 'utf8')) as unknown;
const cfg = preprocessConfigFromHf(hfConfig, join(FIX, 'preprocessor_config.json'));

async function fixtureRgb(im: FixtureImage): Promise<RgbImage> {
  const [height, width] = im.decoded.rgb_shape;
  return { data: new Uint8Array(await readFile(join(FIX, im.decoded.rgb_file))), width, height };
}
async function fixturePixels(im: FixtureImage): Promise<Float32Array> {
  const buf = await readFile(join(FIX, im.pixel_values.file));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}
/** Largest |a - b| and how many elements differ in their float32 bit patterns. */
function compare(a: Float32Array | Uint8Array, b: Float32Array | Uint8Array): { maxDiff: number; differing: number } {
  assert.equal(a.length, b.length);
  let maxDiff = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > maxDiff) maxDiff = d;
    if (!Object.is(a[i], b[i])) differing++;
  }
  return { maxDiff, differing };
}

test('preprocessor_config.json parses to the BLIP-2 defaults', () => {
  assert.deepEqual(cfg, DEFAULT_BLIP2_PREPROCESS);
});

test('preprocessConfigFromHf refuses what it cannot reproduce, naming the file', () => {
  const file = '/models/x/preprocessor_config.json';
  const bad: unknown[] = [
    { ...(hfConfig as object), resample: 2 },
    { ...(hfConfig as object), size: { shortest_edge: 224 } },
    { ...(hfConfig as object), image_mean: [0.5, 0.5] },
    { ...(hfConfig as object), image_std: [0, 1, 1] },
    { ...(hfConfig as object), image_processor_type: 'CLIPImageProcessor' },
    'not an object',
  ];
  for (const json of bad) {
    assert.throws(() => preprocessConfigFromHf(json, file), (err: unknown) => {
      const e = err as { code?: string; message: string };
      assert.equal(e.code, 'model_invalid');
      assert.ok(e.message.includes(file), e.message);
      return true;
    });
  }
  assert.match(
    (() => { try { preprocessConfigFromHf({ resample: 2 }, file); return ''; } catch (e) { return (e as Error).message; } })(),
    /only 3 \(BICUBIC\) is supported/,
  );
  // An int size means a square, as in BlipImageProcessor.
  assert.equal(preprocessConfigFromHf({ size: 384 }, file).width, 384);
});

for (const im of manifest.images) {
  test(`PIL bicubic resize + normalise is bit-exact: ${im.image}`, async (t) => {
    const rgb = await fixtureRgb(im);
    const expected = await fixturePixels(im);
    const got = pixelValuesFromRgb(rgb, cfg);
    const { maxDiff, differing } = compare(got, expected);
    t.diagnostic(`${im.image}: ${rgb.width}x${rgb.height} -> 224x224, max abs diff ${maxDiff}, differing values ${differing}`);
    assert.equal(differing, 0, `max abs diff ${maxDiff}`);
  });

  test(`decodeImage matches PIL's decode + convert("RGB"): ${im.image}`, async (t) => {
    const file = join(FIX, im.image);
    const expected = await fixtureRgb(im);
    const got = await decodeImage(file);
    assert.equal(got.width, im.decoded.width);
    assert.equal(got.height, im.decoded.height);
    const { maxDiff, differing } = compare(got.data, expected.data);
    t.diagnostic(`${im.image}: decoded pixel max abs diff ${maxDiff} (${differing} bytes differ)`);
    // PNG decoding is lossless; JPEG decoders (libjpeg vs libjpeg-turbo/mozjpeg) may differ by 1-2 levels.
    assert.ok(maxDiff <= (im.image.endsWith('.png') ? 0 : 2), `max abs diff ${maxDiff}`);

    const { data, dims } = await loadPixelValues(file, cfg);
    assert.deepEqual(dims, [1, 3, 224, 224]);
    const e2e = compare(data, await fixturePixels(im));
    t.diagnostic(`${im.image}: end-to-end pixel_values max abs diff ${e2e.maxDiff}`);
    // A 2-level pixel difference is at most 2/255/0.2613 ~ 0.03 after normalisation.
    assert.ok(e2e.maxDiff <= (im.image.endsWith('.png') ? 0 : 0.031), `max abs diff ${e2e.maxDiff}`);
  });
}

test('resizeBicubicPil: same size is a copy, one-axis resizes and bad sizes', () => {
  const img: RgbImage = { data: new Uint8Array(5 * 4 * 3).map((_, i) => (i * 37) & 255), width: 5, height: 4 };
  const same = resizeBicubicPil(img, 5, 4);
  assert.deepEqual(same.data, img.data);
  assert.notEqual(same.data, img.data);
  // A flat colour stays flat whichever passes run (weights are normalised to sum to 1).
  const flat: RgbImage = { data: new Uint8Array(30 * 20 * 3).fill(173), width: 30, height: 20 };
  for (const [w, h] of [[30, 7], [11, 20], [64, 3], [1, 1]] as const) {
    const r = resizeBicubicPil(flat, w, h);
    assert.equal(r.data.length, w * h * 3);
    assert.ok(r.data.every((v) => v === 173), `${w}x${h}`);
  }
  assert.throws(() => resizeBicubicPil(img, 0, 4), RangeError);
  assert.throws(() => resizeBicubicPil({ ...img, width: 6 }, 3, 3), RangeError);
});

test('EXIF orientation is applied by default and can be turned off', async () => {
  const upright = join(PHOTOS, 'coffee.jpg');
  const sideways = join(PHOTOS, 'coffee_exif_orientation6.jpg');
  const metaUpright = await sharp(upright).metadata();
  const metaSideways = await sharp(sideways).metadata();
  assert.equal(metaUpright.orientation ?? 1, 1);
  assert.equal(metaSideways.orientation, 6);
  assert.deepEqual([metaSideways.width, metaSideways.height], [metaUpright.height, metaUpright.width]);

  const ref = await decodeImage(upright);
  const oriented = await decodeImage(sideways);
  const stored = await decodeImage(sideways, { applyExifOrientation: false });
  assert.deepEqual([oriented.width, oriented.height], [600, 400]);
  assert.deepEqual([stored.width, stored.height], [400, 600]);

  // Orientation 6 = rotate the stored pixels 90 degrees clockwise: output (x, y) <- stored (y, H-1-x).
  const H = stored.height;
  let mismatches = 0;
  for (let y = 0; y < oriented.height; y++) {
    for (let x = 0; x < oriented.width; x++) {
      const o = (y * oriented.width + x) * 3;
      const s = ((H - 1 - x) * stored.width + y) * 3;
      for (let c = 0; c < 3; c++) if (oriented.data[o + c] !== stored.data[s + c]) mismatches++;
    }
  }
  assert.equal(mismatches, 0);
  // And the result is the upright photo (both are lossy JPEGs, so compare on average).
  let sum = 0;
  for (let i = 0; i < ref.data.length; i++) sum += Math.abs(ref.data[i] - oriented.data[i]);
  assert.ok(sum / ref.data.length < 4, `mean abs diff ${sum / ref.data.length}`);
});

test('grayscale and 16-bit images come out as 8-bit RGB', async () => {
  const gray = await decodeImage(join(PHOTOS, 'camera_gray.png'));
  assert.equal(gray.data.length, gray.width * gray.height * 3);
  for (let i = 0; i < gray.data.length; i += 3) {
    assert.ok(gray.data[i] === gray.data[i + 1] && gray.data[i] === gray.data[i + 2]);
  }
  const dir = await mkdtemp(join(tmpdir(), 'preprocess-16bit-'));
  try {
    const src = join(FIX, 'images/chelsea_451x300.png');
    const f16 = join(dir, 'rgb16.png');
    await sharp(src).toColourspace('rgb16').png().toFile(f16);
    assert.equal((await sharp(f16).metadata()).depth, 'ushort');
    const a = await decodeImage(src);
    const b = await decodeImage(f16);
    assert.equal(compare(a.data, b.data).maxDiff, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('other formats decode to RGB: WebP, TIFF, GIF, AVIF', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'preprocess-formats-'));
  try {
    const src = join(FIX, 'images/rgba_150x250.png'); // with alpha, to check it is dropped
    const base = await decodeImage(src);
    const outputs: Array<[string, (s: Sharp) => Sharp, number]> = [
      ['webp', (s) => s.webp({ lossless: true, exact: true }), 0], // exact: keep RGB under transparent pixels
      ['tiff', (s) => s.tiff({ compression: 'lzw' }), 0], // sharp's default TIFF compression is lossy JPEG
      ['gif', (s) => s.gif(), 255], // palette quantisation: only the shape is checked
      ['avif', (s) => s.avif({ quality: 80 }), 255],
    ];
    for (const [ext, encode, tolerance] of outputs) {
      const file = join(dir, `img.${ext}`);
      await encode(sharp(src)).toFile(file);
      const img = await decodeImage(file);
      assert.deepEqual([img.width, img.height, img.data.length], [150, 250, 150 * 250 * 3], ext);
      assert.ok(compare(img.data, base.data).maxDiff <= tolerance, ext);
      const { dims } = await loadPixelValues(file, cfg);
      assert.deepEqual(dims, [1, 3, 224, 224]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad inputs are refused with photo_unreadable naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'preprocess-bad-'));
  try {
    const jpeg = await readFile(join(PHOTOS, 'coffee.jpg'));
    const cases: Array<[string, string, RegExp]> = [
      ['missing', join(dir, 'does-not-exist.jpg'), /does not exist/],
      ['empty', join(dir, 'empty.jpg'), /empty/],
      ['truncated', join(dir, 'truncated.jpg'), /truncated/],
      ['text', join(dir, 'notes.jpg'), /not an image/],
      ['bomb', join(dir, 'bomb.png'), /too large/],
      ['directory', dir, /not a regular file/],
    ];
    await writeFile(join(dir, 'empty.jpg'), new Uint8Array(0));
    await writeFile(join(dir, 'truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    await writeFile(join(dir, 'notes.jpg'), 'these are my holiday notes, not a picture\n');
    // A real, valid single-colour PNG of 144 megapixels that compresses to a few hundred KB.
    await sharp({ create: { width: 12000, height: 12000, channels: 3, background: '#808080' }, limitInputPixels: false })
      .png({ compressionLevel: 9 })
      .toFile(join(dir, 'bomb.png'));
    for (const [name, file, problem] of cases) {
      await assert.rejects(decodeImage(file), (err: unknown) => {
        const e = err as { code?: string; file?: string; message: string };
        assert.equal(e.code, 'photo_unreadable', name);
        assert.equal(e.file, file, name);
        assert.ok(e.message.includes(file), `${name}: ${e.message}`);
        assert.match(e.message, problem, name);
        return true;
      });
    }
    await assert.rejects(loadPixelValues(join(dir, 'notes.jpg'), cfg), { code: 'photo_unreadable' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
