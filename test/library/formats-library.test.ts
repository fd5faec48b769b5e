// A phone-and-camera folder indexed end to end: JPEG, a Live Photo (HEIC + MOV), a RAW+JPEG pair,
// a lone DNG, an AVIF, a damaged HEIC, a truncated RAW and a video. Through the CLI with the tiny
// fixture model (the real worker process decodes HEIC and RAW for the model): every readable photo
// is captioned once, each bad file is reported by name, companions and videos are not failures.
// In-process: the scan's counts, the RAW+JPEG preference, and HEIC/RAW thumbnails and renditions.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { Library } from '../../src/library/library.ts';
import { readSidecar } from '../../src/library/xmp/index.ts';
import { contentHash } from '../../src/library/scan/hash.ts';
import { renditionBesideThumbnail, thumbnail } from '../../src/library/thumbnails.ts';
import { stopDecodeThread } from '../../src/runtime/image/decode/decode-pool.ts';
import { mediaResponse, type MediaSource } from '../../electron/main/media.ts';
import { runCli } from '../helpers/cli.ts';
import { PHOTOS, REPO_ROOT, makeTempDir } from '../helpers/fixtures.ts';
import { tinyModel } from '../e2e/fixture-models.ts';

const FORMATS = join(REPO_ROOT, 'test', 'fixtures', 'formats');
/** A QuickTime header: what a Live Photo's .MOV starts with (its content does not matter here). */
const MOV = Buffer.concat([Buffer.from([0, 0, 0, 0x14]), Buffer.from('ftypqt  '), Buffer.from([0, 0, 0, 0]), Buffer.from('qt  '), Buffer.alloc(64)]);

let dir: string;
let photos: string;
before(async () => {
  dir = await makeTempDir();
  photos = join(dir, 'DCIM');
  await mkdir(photos);
  const put = (from: string, to: string) => copyFile(from, join(photos, to));
  await put(join(PHOTOS, 'coffee.jpg'), 'coffee.jpg');
  await put(join(FORMATS, 'astronaut_10bit.heic'), 'IMG_0001.HEIC');
  await writeFile(join(photos, 'IMG_0001.MOV'), MOV); // the Live Photo's video
  await put(join(FORMATS, 'cat_preview.dng'), 'IMG_0002.DNG');
  await put(join(PHOTOS, 'rocket.jpg'), 'IMG_0002.JPG'); // the camera's JPEG of the same shot
  // A lone DNG, distinct in content from the pair's (one byte after the preview).
  await writeFile(join(photos, 'DSC_0003.dng'), Buffer.concat([await readFile(join(FORMATS, 'cat_preview.dng')), Buffer.from([0])]));
  await put(join(FORMATS, 'no_preview.dng'), 'DSC_0004.dng'); // no preview: LibRaw demosaics it
  await put(join(FORMATS, 'rocket.avif'), 'rocket.avif');
  await put(join(FORMATS, 'corrupt_truncated.heic'), 'broken.heic');
  await put(join(FORMATS, 'truncated.dng'), 'cut.dng');
  await writeFile(join(photos, 'clip.mp4'), MOV);
});
after(async () => {
  await stopDecodeThread();
  await rm(dir, { recursive: true, force: true });
});

describe('a mixed-format folder', () => {
  it('scan: 8 photos (2 unreadable), the Live Photo video and the pair\'s RAW as companions, the clip as a video', async () => {
    const problems: string[] = [];
    const lib = Library.open(join(dir, 'scan.db'), { problem: (e) => problems.push(e.message) });
    try {
      lib.addFolder(photos);
      const sum = await lib.scanAll();
      assert.deepEqual({ seen: sum.seen, videos: sum.videos, companions: sum.companions }, { seen: 8, videos: 1, companions: 2 });
      assert.equal(sum.problems, 2);
      assert.equal(problems.length, 2, problems.join('\n'));
      assert.ok(problems.some((m) => m.includes('broken.heic')) && problems.some((m) => m.includes('cut.dng')), problems.join('\n'));
    } finally {
      lib.close();
    }
  });

  it('the RAW+JPEG preference decides which half is the photo', async () => {
    const seen: string[] = [];
    const lib = Library.open(join(dir, 'pair.db'), { problem: () => {} });
    try {
      lib.pairPreference = 'raw';
      const folder = lib.addFolder(photos);
      const sum = await lib.scan(folder);
      for (const f of lib.catalog.filesUnder(folder.id)) seen.push(f.path.split(/[\\/]/).pop()!);
      assert.ok(seen.includes('IMG_0002.DNG') && !seen.includes('IMG_0002.JPG'), seen.join(' '));
      assert.equal(sum.companions, 2);
    } finally {
      lib.close();
    }
  });

  it('the watcher path: a Live Photo video or the pair\'s other half arriving is not ingested', async () => {
    const lib = Library.open(join(dir, 'watch.db'), { problem: () => {} });
    try {
      const folder = lib.addFolder(photos);
      const names = () => lib.catalog.filesUnder(folder.id).map((f) => f.path.split(/[\\/]/).pop());
      await lib.applyBatch({ added: ['IMG_0001.MOV', 'IMG_0002.DNG', 'IMG_0002.JPG', 'IMG_0001.HEIC'].map((n) => join(photos, n)), changed: [], removed: [], removedDirs: [] });
      assert.deepEqual(names().sort(), ['IMG_0001.HEIC', 'IMG_0002.JPG']);
    } finally {
      lib.close();
    }
  });

  it('index (CLI, tiny model): every readable photo captioned once; the bad ones reported by name', { timeout: 300_000 }, async () => {
    const model = await tinyModel('opt');
    const db = join(dir, 'cat.db');
    const r = await runCli(['index', photos, '--db', db, '--model', model, '--max-new-tokens', '5', '--sidecar-name', 'base'], { timeoutMs: 280_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /6 of 8 photo\(s\) captioned; 2 failed/);
    assert.match(r.stderr, /broken\.heic/);
    assert.match(r.stderr, /cut\.dng/);
    assert.doesNotMatch(r.stderr, /IMG_0001\.MOV|clip\.mp4|IMG_0002\.DNG/);

    const exported = JSON.parse((await runCli(['export', '--db', db, '--format', 'json'])).stdout) as { paths: string[]; caption: string | null }[];
    const captioned = exported.filter((p) => p.caption).map((p) => p.paths.map((x) => x.split(/[\\/]/).pop()).join(',')).sort();
    assert.deepEqual(captioned, ['DSC_0003.dng', 'DSC_0004.dng', 'IMG_0001.HEIC', 'IMG_0002.JPG', 'coffee.jpg', 'rocket.avif']);
    const status = await runCli(['status', '--db', db]);
    assert.match(status.stdout + status.stderr, /failed: .*broken\.heic: .*truncated/);
    assert.match(status.stdout + status.stderr, /failed: .*cut\.dng: .*no embedded JPEG preview, and LibRaw cannot read the sensor data/);
  });

  it('index --pair-prefer raw (remembered): the RAW is captioned, and the JPEG\'s own sidecar carries the same caption', { timeout: 300_000 }, async () => {
    const pair = join(dir, 'pair-raw');
    await mkdir(pair);
    await copyFile(join(FORMATS, 'cat_preview.dng'), join(pair, 'IMG_0002.DNG'));
    await copyFile(join(PHOTOS, 'rocket.jpg'), join(pair, 'IMG_0002.JPG'));
    const model = await tinyModel('opt');
    const db = join(dir, 'pair-raw.db');
    const r = await runCli(['index', pair, '--db', db, '--model', model, '--max-new-tokens', '5', '--pair-prefer', 'raw'], { timeoutMs: 280_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /1 companion file/);
    const exported = JSON.parse((await runCli(['export', '--db', db, '--format', 'json'])).stdout) as { paths: string[]; caption: string | null }[];
    assert.deepEqual(exported.map((p) => [p.paths.map((x) => x.split(/[\\/]/).pop()), Boolean(p.caption)]), [[['IMG_0002.DNG'], true]]);
    const raw = await readSidecar(join(pair, 'IMG_0002.DNG.xmp'));
    const jpeg = await readSidecar(join(pair, 'IMG_0002.JPG.xmp'));
    assert.equal(raw.description, exported[0].caption);
    assert.equal(jpeg.description, exported[0].caption, 'one caption for the pair');
    // A later run without the flag keeps the catalog's choice (the JPEG does not become a second photo).
    const again = await runCli(['index', pair, '--db', db, '--model', model, '--max-new-tokens', '5'], { timeoutMs: 280_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse((await runCli(['export', '--db', db, '--format', 'json'])).stdout) as unknown[]).length, 1);
  });

  it('thumbnails and the photo view\'s renditions of HEIC and RAW: upright WebP, cached by content hash', async () => {
    const cache = join(dir, 'thumbs');
    for (const [name, w, h] of [['IMG_0001.HEIC', 320, 320], ['DSC_0003.dng', 213, 320]] as const) {
      const file = join(photos, name);
      const hash = await contentHash(file);
      const thumb = await thumbnail(file, hash, cache);
      const meta = await sharp(thumb).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['webp', w, h], name);
      const view = await renditionBesideThumbnail(file, thumb);
      assert.ok(view.includes(hash) && view !== thumb);
      const big = await sharp(view).metadata();
      assert.equal(big.format, 'webp');
      assert.ok(big.width! >= w && big.height! >= h, `${name}: rendition ${big.width}×${big.height}`);
      assert.equal(await renditionBesideThumbnail(file, thumb), view, 'a second request is the cached file');
    }
  });

  it('pa-media: a HEIC and a RAW are served as upright WebP renditions, a JPEG as its own bytes', async () => {
    const cache = join(dir, 'media-thumbs');
    const files = ['IMG_0001.HEIC', 'DSC_0003.dng', 'coffee.jpg'].map((n) => join(photos, n));
    const service = {
      photoFile: (id: number) => ({ path: files[id], format: null }),
      thumbnailFile: async (id: number) => thumbnail(files[id], await contentHash(files[id]), cache),
    } satisfies MediaSource;
    const heic = await mediaResponse(service, 'pa-media://media/photo/0');
    assert.equal(heic.status, 200);
    assert.equal(heic.headers.get('content-type'), 'image/webp');
    const heicMeta = await sharp(Buffer.from(await heic.arrayBuffer())).metadata();
    assert.deepEqual([heicMeta.width, heicMeta.height], [512, 512]);
    const raw = await mediaResponse(service, 'pa-media://media/photo/1');
    assert.equal(raw.headers.get('content-type'), 'image/webp');
    const rawMeta = await sharp(Buffer.from(await raw.arrayBuffer())).metadata();
    assert.deepEqual([rawMeta.width, rawMeta.height], [639, 960], 'the preview, turned by the DNG orientation');
    const jpeg = await mediaResponse(service, 'pa-media://media/photo/2');
    assert.equal(jpeg.headers.get('content-type'), 'image/jpeg');
    assert.ok(Buffer.from(await jpeg.arrayBuffer()).equals(await readFile(files[2])));
    const thumb = await mediaResponse(service, 'pa-media://media/thumb/0');
    assert.equal(thumb.headers.get('content-type'), 'image/webp');
  });
});
