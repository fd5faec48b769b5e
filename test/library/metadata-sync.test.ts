// Captions and accepted tags flow into XMP sidecars (dc:description, dc:subject and, when asked,
// lr:hierarchicalSubject); rejected tags never do; unchanged sidecars are not rewritten.
import assert from 'node:assert/strict';
import { cp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { MetadataSync } from '../../src/library/metadata-sync.ts';
import { readSidecar } from '../../src/library/xmp/index.ts';
import { PHOTOS, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => rm(dir, { recursive: true, force: true }));

describe('metadata sync', () => {
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
});
