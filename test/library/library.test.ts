// The library end to end with real parts: folders of real files, the SQLite catalog, the
// inference worker process with the tiny fixture model, XMP sidecars on disk.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import type { ErrorData } from '../../src/shared/errors.ts';
import { InferenceHost } from '../../src/jobs/inference-host.ts';
import type { ModelInfo } from '../../src/jobs/protocol.ts';
import { exportedPhotos } from '../../src/library/catalog/export.ts';
import { PhotoIndexer } from '../../src/library/indexer/photo-indexer.ts';
import { Library } from '../../src/library/library.ts';
import { MetadataSync } from '../../src/library/metadata-sync.ts';
import { isWellFormedXml, readSidecar, writeSidecar } from '../../src/library/xmp/index.ts';
import { PHOTOS, fixturePath, makeTempDir } from '../helpers/fixtures.ts';

let dir: string;
let photos: string;
let host: InferenceHost;
let model: ModelInfo;

before(async () => {
  dir = await makeTempDir();
  await convertCheckpoint(fixturePath('opt'), join(dir, 'model'));
  photos = join(dir, 'photos');
  await mkdir(join(photos, 'trip'), { recursive: true });
  for (const f of ['chelsea.jpg', 'coffee.jpg', 'rocket.jpg']) await cp(join(PHOTOS, f), join(photos, f));
  await cp(join(PHOTOS, 'astronaut.jpg'), join(photos, 'trip', 'astronaut.jpg'));
  host = new InferenceHost();
  await host.start();
  model = await host.load(join(dir, 'model'));
});
after(async () => {
  await host?.shutdown();
  await rm(dir, { recursive: true, force: true });
});

async function indexOnce(db: string, problems: ErrorData[] = []): Promise<Library> {
  const lib = Library.open(db, { problem: (e) => problems.push(e) });
  for (const f of [photos]) lib.addFolder(f);
  await lib.scanAll();
  const metadata = new MetadataSync(lib.catalog, { xmp: 'sidecar', sidecarNaming: 'ext' });
  await new PhotoIndexer({
    catalog: lib.catalog, inference: () => host, search: () => undefined, workerId: 'test',
    caption: () => ({ modelId: model.label, convertedAt: model.createdAt, options: { maxNewTokens: 6 } }),
    writeSidecar: (id) => metadata.write(id),
  }).drain();
  return lib;
}

describe('library', () => {
  const db = () => join(dir, 'catalog.db');

  it('captions every photo once and writes well-formed merged sidecars', async () => {
    // A sidecar another tool wrote before us: its rating must survive our write.
    await writeFile(join(photos, 'rocket.jpg.xmp'), `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>`);
    const lib = await indexOnce(db());
    const rows = exportedPhotos(lib.catalog);
    assert.equal(rows.length, 4);
    for (const r of rows) {
      assert.equal(r.captionProvenance, 'ai');
      assert.ok(r.caption && r.caption.length > 0);
      const xmp = readFileSync(`${r.paths[0]}.xmp`, 'utf8');
      assert.ok(isWellFormedXml(xmp));
      assert.equal((await readSidecar(`${r.paths[0]}.xmp`)).description, r.caption);
    }
    assert.match(readFileSync(join(photos, 'rocket.jpg.xmp'), 'utf8'), /xmp:Rating="4"/);
    assert.equal(lib.queue.counts().done, 4);
    assert.equal(lib.catalog.integrityCheck(), 'ok');
    lib.close();
  });

  it('a rename, a move into another folder and a re-index keep the captions (nothing captioned twice)', async () => {
    let lib = Library.open(db());
    const before = new Map(exportedPhotos(lib.catalog).map((r) => [r.hash, r.caption]));
    lib.close();
    await rename(join(photos, 'coffee.jpg'), join(photos, 'morning coffee.jpg'));
    await rename(join(photos, 'rocket.jpg'), join(photos, 'trip', 'rocket.jpg'));
    lib = await indexOnce(db());
    const after = exportedPhotos(lib.catalog);
    assert.equal(after.length, 4);
    for (const r of after) assert.equal(r.caption, before.get(r.hash));
    assert.ok(after.some((r) => r.paths.includes(join(photos, 'morning coffee.jpg'))));
    assert.equal(lib.queue.counts().done, 4, 'no new caption jobs');
    lib.close();
  });

  it("a user's edit survives re-indexing and a forced AI re-caption (kept in history)", async () => {
    let lib = Library.open(db());
    const photo = lib.catalog.fileByPath(join(photos, 'chelsea.jpg'))!;
    lib.catalog.setUserCaption(photo.photoId, 'my cat Chelsea on the sofa');
    lib.queue.enqueue(photo.photoId, 'caption', { force: true });
    lib.close();
    lib = await indexOnce(db());
    assert.equal(lib.catalog.currentCaption(photo.photoId)?.text, 'my cat Chelsea on the sofa');
    assert.equal(lib.catalog.currentCaption(photo.photoId)?.provenance, 'user');
    assert.ok(lib.catalog.captionHistory(photo.photoId).filter((c) => c.provenance === 'ai').length >= 2);
    assert.equal((await readSidecar(join(photos, 'chelsea.jpg.xmp'))).description, 'my cat Chelsea on the sofa');
    lib.close();
  });

  it('delete then re-add revives the photo with its caption; a vanished folder goes offline, never deleted', async () => {
    let lib = Library.open(db());
    const astro = lib.catalog.fileByPath(join(photos, 'trip', 'astronaut.jpg'))!;
    const caption = lib.catalog.currentCaption(astro.photoId)!.text;
    lib.close();
    await rename(join(photos, 'trip', 'astronaut.jpg'), join(dir, 'astronaut.jpg'));
    lib = await indexOnce(db());
    assert.equal(lib.catalog.fileByPath(join(photos, 'trip', 'astronaut.jpg'))?.state, 'missing');
    lib.close();
    await rename(join(dir, 'astronaut.jpg'), join(photos, 'astronaut-again.jpg'));
    lib = await indexOnce(db());
    assert.equal(lib.catalog.currentCaption(lib.catalog.fileByPath(join(photos, 'astronaut-again.jpg'))!.photoId)?.text, caption);
    lib.close();

    await rename(photos, `${photos}-unplugged`);
    lib = Library.open(db());
    const s1 = await lib.scanAll();
    assert.equal(lib.catalog.listFolders()[0].status, 'offline');
    assert.equal(s1.missing, 0);
    assert.equal(exportedPhotos(lib.catalog).filter((r) => r.caption).length, 4, 'captions kept while offline');
    lib.close();
    await rename(`${photos}-unplugged`, photos);
    lib = await indexOnce(db());
    assert.equal(lib.catalog.listFolders()[0].status, 'online');
    assert.equal(exportedPhotos(lib.catalog).length, 4);
    lib.close();
  });

  it('existing captions and keywords in XMP are imported as the user\'s, not re-captioned', async () => {
    const p = join(photos, 'trip', 'labelled.png');
    await sharp(fixturePath('images/gradient_320x200.png')).toFile(p);
    await writeSidecar(`${p}.xmp`, { description: 'sunset gradient I painted', subjects: ['art', 'gradient'] });
    const lib = await indexOnce(db());
    const id = lib.catalog.fileByPath(p)!.photoId;
    assert.equal(lib.catalog.currentCaption(id)?.provenance, 'user');
    assert.equal(lib.catalog.currentCaption(id)?.text, 'sunset gradient I painted');
    assert.deepEqual(lib.catalog.tagsOf(id).map((t) => t.label).sort(), ['art', 'gradient']);
    lib.close();
  });

  it('bad inputs are each reported and none stops the run', async () => {
    const bad = join(photos, 'bad');
    await mkdir(bad);
    await writeFile(join(bad, 'zero.jpg'), '');
    await writeFile(join(bad, 'truncated.jpg'), readFileSync(join(PHOTOS, 'coffee.jpg')).subarray(0, 4000));
    await writeFile(join(bad, 'text.jpg'), 'just some text, not a picture');
    await sharp({ create: { width: 12000, height: 12000, channels: 3, background: '#000' } }).png().toFile(join(bad, 'bomb.png'));
    await symlink(bad, join(bad, 'loop'));
    await writeFile(Buffer.from(join(bad, 'caf\xe9-latin1.jpg'), 'latin1'), readFileSync(join(PHOTOS, 'coffee.jpg')));
    await cp(join(PHOTOS, 'rocket.jpg'), join(bad, 'fine.jpg'));
    const problems: ErrorData[] = [];
    const lib = await indexOnce(db(), problems);
    const msgs = problems.map((p) => p.message).join('\n');
    assert.match(msgs, /truncated\.jpg/);
    assert.match(msgs, /zero\.jpg: the file is empty/);
    assert.match(msgs, /text\.jpg: it is not an image/);
    assert.match(msgs, /not valid UTF-8/);
    assert.match(msgs, /bomb\.png/);
    const failed = lib.queue.failedJobs().map((j) => j.path);
    assert.ok(failed.some((p) => p?.endsWith('truncated.jpg')));
    assert.ok(failed.some((p) => p?.endsWith('bomb.png')));
    // The good photo next to them was captioned.
    assert.ok(lib.catalog.currentCaption(lib.catalog.fileByPath(join(bad, 'fine.jpg'))!.photoId));
    assert.equal(lib.catalog.integrityCheck(), 'ok');
    lib.close();
    assert.ok(!existsSync(join(bad, 'zero.jpg.xmp')));
  });
});
