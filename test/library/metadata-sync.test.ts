// Captions and accepted tags flow into XMP sidecars (dc:description, dc:subject and, when asked,
// lr:hierarchicalSubject), AI suggestions too unless turned off; rejected tags never do, and are
// removed from a sidecar that still holds them; unchanged sidecars are not rewritten.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { MetadataSync } from '../../src/library/metadata-sync.ts';
import { readSidecar } from '../../src/library/xmp/index.ts';
import { PHOTOS, REPO_ROOT, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

describe('metadata sync', () => {
  it('a RAW+JPEG pair shares one caption: the other half gets its own sidecar (ext naming) or the shared one (base)', async () => {
    const pair = join(dir, 'pair');
    await mkdir(pair);
    const jpeg = join(pair, 'IMG_0002.JPG');
    await cp(join(PHOTOS, 'rocket.jpg'), jpeg);
    await cp(join(REPO_ROOT, 'test', 'fixtures', 'formats', 'cat_preview.dng'), join(pair, 'IMG_0002.CR2'));
    await cp(join(PHOTOS, 'coffee.jpg'), join(pair, 'IMG_0003.JPG')); // not half of a pair
    const c = Catalog.open(join(dir, 'pair.db'));
    const folder = c.addFolder(pair);
    const { photoId } = c.recordFile({ path: jpeg, folderId: folder.id, hash: 'e'.repeat(64), size: 1, mtimeMs: 1 });
    c.addAiCaption(photoId, { text: 'a rocket on the pad', modelId: 'm' });
    c.addUserTag(photoId, 'launch');
    assert.equal(await new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'ext' }).write(photoId), 2);
    for (const f of ['IMG_0002.JPG.xmp', 'IMG_0002.CR2.xmp']) {
      const x = await readSidecar(join(pair, f));
      assert.equal(x.description, 'a rocket on the pad', f);
      assert.deepEqual(x.subjects, ['launch'], f);
    }
    assert.equal(existsSync(join(pair, 'IMG_0003.JPG.xmp')), false);
    assert.equal(await new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'base' }).write(photoId), 1, 'one shared IMG_0002.xmp');
    assert.equal((await readSidecar(join(pair, 'IMG_0002.xmp'))).description, 'a rocket on the pad');
    // A half the catalog holds as a photo of its own keeps its own sidecar.
    const raw = c.recordFile({ path: join(pair, 'IMG_0002.CR2'), folderId: folder.id, hash: 'f'.repeat(64), size: 1, mtimeMs: 1 });
    c.setUserCaption(raw.photoId, 'my own words for the RAW');
    const sync = new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'ext' });
    await sync.write(raw.photoId);
    assert.equal(await sync.write(photoId), 0, 'the JPEG leaves the RAW sidecar alone');
    assert.equal((await readSidecar(join(pair, 'IMG_0002.CR2.xmp'))).description, 'my own words for the RAW');
    c.close();
  });

  it('writes caption and accepted tags, Lightroom keywords on request, and skips unchanged sidecars', async () => {
    const photo = join(dir, 'coffee.jpg');
    await cp(join(PHOTOS, 'coffee.jpg'), photo);
    const c = Catalog.open(join(dir, 'c.db'));
    const folder = c.addFolder(dir);
    const { photoId } = c.recordFile({ path: photo, folderId: folder.id, hash: 'a'.repeat(64), size: 1, mtimeMs: 1 });
    c.addAiCaption(photoId, { text: 'a cup of coffee on a table', modelId: 'm' });
    c.addUserTag(photoId, 'coffee');
    c.addAiTags(photoId, [{ label: 'mug', score: 0.9 }]);
    c.acceptTag(photoId, 'mug');
    c.addAiTags(photoId, [{ label: 'tea', score: 0.5 }]);
    c.rejectTag(photoId, 'tea');
    const sync = new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'base', hierarchicalSubjects: true });
    assert.equal(await sync.write(photoId), 1);
    const x = await readSidecar(join(dir, 'coffee.xmp'));
    assert.equal(x.description, 'a cup of coffee on a table');
    assert.deepEqual([...x.subjects].sort(), ['coffee', 'mug']);
    assert.deepEqual([...x.hierarchicalSubjects].sort(), ['coffee', 'mug']);
    const before = (await stat(join(dir, 'coffee.xmp'))).mtimeMs;
    assert.equal(await sync.write(photoId), 0, 'up to date: not rewritten');
    assert.equal((await stat(join(dir, 'coffee.xmp'))).mtimeMs, before);
    assert.equal(await new MetadataSync(c, { xmp: 'off', sidecarNaming: 'ext' }).write(photoId), 0);
    c.close();
  });

  it('writes AI suggestions unless told not to, and removes a keyword once its tag is rejected', async () => {
    const photo = join(dir, 'chelsea.jpg');
    await cp(join(PHOTOS, 'chelsea.jpg'), photo);
    const c = Catalog.open(join(dir, 'suggested.db'));
    const folder = c.addFolder(dir);
    const { photoId } = c.recordFile({ path: photo, folderId: folder.id, hash: 'b'.repeat(64), size: 1, mtimeMs: 1 });
    c.addAiCaption(photoId, { text: 'a cat on a sofa', modelId: 'm' });
    c.addAiTags(photoId, [{ label: 'cat', score: 6.1 }, { label: 'couch', score: 4.2 }]);
    c.addUserTag(photoId, 'Chelsea');
    const sidecar = join(dir, 'chelsea.jpg.xmp');
    const sync = new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'ext' });
    assert.equal(await sync.write(photoId), 1);
    assert.deepEqual([...(await readSidecar(sidecar)).subjects].sort(), ['Chelsea', 'cat', 'couch']);

    c.rejectTag(photoId, 'Couch'); // caption and remaining tags unchanged: only the rejection is news
    assert.equal(await sync.write(photoId), 1, 'a sidecar still holding a rejected keyword is out of date');
    assert.deepEqual([...(await readSidecar(sidecar)).subjects].sort(), ['Chelsea', 'cat']);
    assert.equal(await sync.write(photoId), 0);

    const acceptedOnly = new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'ext', includeSuggestedTags: false });
    assert.equal(await acceptedOnly.write(photoId), 1);
    assert.deepEqual((await readSidecar(sidecar)).subjects, ['Chelsea']);
    c.acceptTag(photoId, 'cat');
    assert.equal(await acceptedOnly.write(photoId), 1);
    assert.deepEqual([...(await readSidecar(sidecar)).subjects].sort(), ['Chelsea', 'cat']);
    c.close();
  });
});
