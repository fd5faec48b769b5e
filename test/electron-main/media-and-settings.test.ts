// Two small main-process pieces on their own: media responses for formats a browser cannot show
// (converted to upright JPEG) and for unusable files, over a MediaSource fake typed against the
// real service; and the settings file (defaults, per-field fallback, atomic saves).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { type MediaSource, mediaResponse } from '../../electron/main/media.ts';
import { DEFAULT_SETTINGS, SettingsStore } from '../../electron/main/settings-store.ts';
import { thumbnail } from '../../src/library/thumbnails.ts';
import { AppError } from '../../src/shared/errors.ts';
import { PHOTOS, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
before(async () => { dir = await makeTempDir(); });
after(() => rm(dir, { recursive: true, force: true }));

describe('mediaResponse', () => {
  const files = new Map<number, string>();
  const source = {
    photoFile: (id: number) => {
      const path = files.get(id);
      if (!path) throw new AppError('invalid_argument', `no photo with id ${id}`);
      return { path, format: null };
    },
    thumbnailFile: async (id: number) => thumbnail(files.get(id)!, 'ab'.repeat(16) + String(id).padStart(4, '0'), join(dir, 'thumbs')),
  } satisfies MediaSource;

  it('serves a TIFF (which Chromium cannot show) as an upright WebP rendition, and thumbnails it upright too', async () => {
    const tiff = join(dir, 'turned.tiff');
    await writeFile(tiff, await sharp(join(PHOTOS, 'coffee_exif_orientation6.jpg')).keepMetadata().tiff().toBuffer());
    files.set(1, tiff);
    const r = await mediaResponse(source, 'pa-media://media/photo/1');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/webp');
    const meta = await sharp(Buffer.from(await r.arrayBuffer())).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 600, 400]);
    const t = await mediaResponse(source, 'pa-media://media/thumb/1');
    const tm = await sharp(Buffer.from(await t.arrayBuffer())).metadata();
    assert.deepEqual([tm.format, tm.width, tm.height], ['webp', 320, 213]);
  });

  it('a vanished file is 404, an undecodable one 422, and neither names the path', async () => {
    files.set(2, join(dir, 'gone.jpg'));
    const gone = await mediaResponse(source, 'pa-media://media/photo/2');
    assert.equal(gone.status, 404);
    const garbage = join(dir, 'garbage.tiff');
    await writeFile(garbage, Buffer.concat([Buffer.from('II*\0'), Buffer.alloc(200, 7)]));
    files.set(3, garbage);
    const bad = await mediaResponse(source, 'pa-media://media/photo/3');
    assert.equal(bad.status, 422);
    for (const r of [gone, bad]) assert.ok(!(await r.text()).includes(dir));
    assert.equal((await mediaResponse(source, 'not a url')).status, 400);
    assert.equal((await mediaResponse(source, 'pa-media://media/photo/-1')).status, 400);
  });
});

describe('SettingsStore', () => {
  it('starts from the defaults and saves a patch atomically', async () => {
    const file = join(dir, 'a', 'settings.json');
    const store = await SettingsStore.open(file);
    assert.deepEqual(store.get(), DEFAULT_SETTINGS);
    const [a, b] = await Promise.all([store.update({ maxNewTokens: 40 }), store.update({ numBeams: 3 })]);
    assert.equal(a.maxNewTokens, 40);
    assert.deepEqual([b.maxNewTokens, b.numBeams], [40, 3], 'the second patch builds on the first');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), b);
    assert.deepEqual((await SettingsStore.open(file)).get(), b);
  });

  it('keeps the valid fields of a hand-edited file and falls back for the rest; a broken file means defaults', async () => {
    const file = join(dir, 'edited.json');
    await writeFile(file, JSON.stringify({ threads: 4, numBeams: 99, xmp: 'embedded', captionModelDir: '/models/opt', unknown: 1 }));
    const s = (await SettingsStore.open(file)).get();
    assert.deepEqual([s.threads, s.numBeams, s.xmp, s.captionModelDir], [4, DEFAULT_SETTINGS.numBeams, 'sidecar', '/models/opt']);
    assert.equal('unknown' in s, false);
    await writeFile(file, '{ not json');
    const problems: string[] = [];
    assert.deepEqual((await SettingsStore.open(file, (m) => problems.push(m))).get(), DEFAULT_SETTINGS);
    assert.equal(problems.length, 1);
  });
});
