// Provenance survives a new catalog: MetadataSync records in our own XMP namespace which keywords
// are AI suggestions and whether the caption is the model's; a fresh catalog over the same folder
// (Library.open + addFolder + scan, real files and SQLite) gets "AI vs you" back from it, from a
// sidecar or from XMP embedded in the image. Other tools' bytes stay as they were; a caption
// edited elsewhere after our write, and a sidecar without our namespace, are the user's.
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { Library } from '../../src/library/library.ts';
import { MetadataSync } from '../../src/library/metadata-sync.ts';
import { descriptionSha1, isWellFormedXml, mergeXmp, readSidecar, readXmp, writeSidecar } from '../../src/library/xmp/index.ts';
import { PHOTOS, makeTempDir } from '../helpers/fixtures.ts';

const PA = 'https://photo-assistant.app/ns/1.0/';
const RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"';

// Another tool's sidecar: a namespace we do not know, darktable's history, a comment, odd spacing.
const FOREIGN = `<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <!-- written by darktable 4.6 -->
 <rdf:RDF ${RDF}>
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:darktable="http://darktable.sf.net/"
    xmlns:acme="http://example.com/acme/1.0/"
   xmp:Rating="3"  acme:flag='picked' darktable:history_end="2">
   <acme:notes>keep &amp; me &#x263A;</acme:notes>
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="rawprepare" darktable:params="00000000ff3f0000"/>
     <rdf:li darktable:num="1" darktable:operation="exposure" darktable:multi_name="&#10;"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
`;

/** The text with what our write adds cut out: our property elements and namespace declarations. */
function othersOnly(xml: string): string {
  return xml
    .replace(/\n\s*<(dc|photoassistant):(\w+)>[\s\S]*?<\/\1:\2>/g, '')
    .replace(/\s*xmlns:(dc|photoassistant)="[^"]*"/g, '');
}

let dir: string;
let photos: string;
const chelsea = () => join(photos, 'chelsea.jpg');
const coffee = () => join(photos, 'coffee.jpg');
const rocket = () => join(photos, 'rocket.jpg');
const embedded = () => join(photos, 'embedded.jpg');

before(async () => {
  dir = await makeTempDir();
  photos = join(dir, 'photos');
  await mkdir(photos);
  for (const f of ['chelsea.jpg', 'coffee.jpg', 'rocket.jpg']) await cp(join(PHOTOS, f), join(photos, f));
});
after(() => rm(dir, { recursive: true, force: true }));

async function openScanned(db: string): Promise<Library> {
  const lib = Library.open(join(dir, db));
  const folder = lib.addFolder(photos);
  await lib.scan(folder);
  return lib;
}

describe('XMP provenance', () => {
  it('our write records AI vs user in our namespace and leaves every other byte alone', async () => {
    await writeFile(`${chelsea()}.xmp`, FOREIGN);
    const lib = await openScanned('first.db');
    const c = lib.catalog;
    const id = c.fileByPath(chelsea())!.photoId;
    assert.equal(c.currentCaption(id), undefined, 'a sidecar with no caption or keywords imports nothing');
    c.addAiCaption(id, { text: 'a cat lying on a sofa', modelId: 'blip2-opt-2.7b' });
    c.addAiTags(id, [{ label: 'cat', score: 6.1 }, { label: 'couch', score: 4.2 }, { label: 'sofa', score: 3.9 }]);
    c.acceptTag(id, 'sofa');
    c.addUserTag(id, 'Chelsea');
    const coffeeId = c.fileByPath(coffee())!.photoId;
    c.addAiCaption(coffeeId, { text: 'a cup of coffee on a table', modelId: 'blip2-opt-2.7b' });
    c.addAiTags(coffeeId, [{ label: 'mug', score: 2 }]);

    const sync = new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'ext' });
    assert.equal(await sync.write(id), 1);
    assert.equal(await sync.write(coffeeId), 1);
    const text = await readFile(`${chelsea()}.xmp`, 'utf8');
    assert.ok(isWellFormedXml(text), text);
    assert.ok(text.includes(`xmlns:photoassistant="${PA}"`));
    assert.match(text, /<photoassistant:descriptionSource>ai<\/photoassistant:descriptionSource>/);
    assert.ok(text.includes(`<photoassistant:descriptionSha1>${descriptionSha1('a cat lying on a sofa')}</photoassistant:descriptionSha1>`));
    assert.equal(othersOnly(text), FOREIGN, 'outside our parts, the sidecar is byte for byte what the other tools wrote');

    const back = await readSidecar(`${chelsea()}.xmp`);
    assert.deepEqual([...back.subjects].sort(), ['Chelsea', 'cat', 'couch', 'sofa']);
    assert.deepEqual([...back.provenance!.aiSubjects].sort(), ['cat', 'couch']);
    assert.equal(back.provenance!.descriptionSource, 'ai');
    assert.equal(back.provenance!.descriptionModel, 'blip2-opt-2.7b');

    const mtime = (await stat(`${chelsea()}.xmp`)).mtimeMs;
    assert.equal(await sync.write(id), 0, 'up to date, provenance included');
    assert.equal((await stat(`${chelsea()}.xmp`)).mtimeMs, mtime);
    // Accepting a suggestion changes no keyword, only who chose it: the sidecar must follow.
    c.acceptTag(id, 'couch');
    assert.equal(await sync.write(id), 1);
    assert.deepEqual((await readSidecar(`${chelsea()}.xmp`)).provenance!.aiSubjects, ['cat']);
    assert.equal(othersOnly(await readFile(`${chelsea()}.xmp`, 'utf8')), FOREIGN, 'replaced in place, nothing else moved');
    lib.close();
  });

  it('a new catalog over the same folder gets AI vs you back; edited captions and plain sidecars are the user\'s', async () => {
    // A caption changed in another tool after our write: the hash no longer matches.
    const coffeeXmp = `${coffee()}.xmp`;
    await writeFile(coffeeXmp, (await readFile(coffeeXmp, 'utf8')).replace('a cup of coffee on a table', 'my morning espresso'));
    // A sidecar of ours from before provenance was recorded (or another tool's): all the user's.
    await writeSidecar(`${rocket()}.xmp`, { description: 'launch day', subjects: ['rocket', 'space'] });
    // Sidecar data copied into the image with exiftool: the embedded packet carries our namespace.
    const packet = mergeXmp(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF ${RDF}/></x:xmpmeta>`, {
      description: 'a red square', subjects: ['red', 'square', 'mine'],
      provenance: { aiSubjects: ['red', 'square'], descriptionSource: 'ai', descriptionModel: 'blip2-opt-2.7b' },
    });
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#c00' } }).jpeg().withXmp(packet).toFile(embedded());

    const lib = await openScanned('second.db');
    const c = lib.catalog;
    const id = c.fileByPath(chelsea())!.photoId;
    const caption = c.currentCaption(id)!;
    assert.deepEqual([caption.text, caption.provenance, caption.modelId], ['a cat lying on a sofa', 'ai', 'blip2-opt-2.7b']);
    const tags = (photoId: number) => c.tagsOf(photoId).map((t) => [t.label, t.provenance, t.state, t.score]).sort();
    assert.deepEqual(tags(id), [
      ['Chelsea', 'user', 'accepted', null],
      ['cat', 'ai', 'suggested', null],
      ['couch', 'user', 'accepted', null],
      ['sofa', 'user', 'accepted', null],
    ]);
    assert.equal(lib.queue.counts().pending, 0, 'imported captions, AI or not, are not captioned again');

    const coffeeId = c.fileByPath(coffee())!.photoId;
    assert.deepEqual([c.currentCaption(coffeeId)?.text, c.currentCaption(coffeeId)?.provenance], ['my morning espresso', 'user']);
    assert.deepEqual(tags(coffeeId), [['mug', 'ai', 'suggested', null]]);

    const rocketId = c.fileByPath(rocket())!.photoId;
    assert.equal(c.currentCaption(rocketId)?.provenance, 'user');
    assert.deepEqual(tags(rocketId), [['rocket', 'user', 'accepted', null], ['space', 'user', 'accepted', null]]);

    const embeddedId = c.fileByPath(embedded())!.photoId;
    assert.deepEqual([c.currentCaption(embeddedId)?.text, c.currentCaption(embeddedId)?.provenance], ['a red square', 'ai']);
    assert.deepEqual(tags(embeddedId), [['mine', 'user', 'accepted', null], ['red', 'ai', 'suggested', null], ['square', 'ai', 'suggested', null]]);

    // The new catalog agrees with the sidecar it came from: nothing to write back.
    assert.equal(await new MetadataSync(c, { xmp: 'sidecar', sidecarNaming: 'ext' }).write(id), 0);
    lib.close();
  });

  it('reading: hash checked, listed keywords must still be keywords, attribute form, removal and in-place replacement', () => {
    const wrap = (desc: string) => `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF ${RDF}>${desc}</rdf:RDF></x:xmpmeta>`;
    const dc = 'xmlns:dc="http://purl.org/dc/elements/1.1/"';
    const body = (caption: string) =>
      `<dc:description><rdf:Alt><rdf:li xml:lang="x-default">${caption}</rdf:li></rdf:Alt></dc:description>` +
      '<dc:subject><rdf:Bag><rdf:li>Cat</rdf:li><rdf:li>sofa</rdf:li></rdf:Bag></dc:subject>';
    const attrs = (sha: string) => `xmlns:pa="${PA}" pa:descriptionSource="ai" pa:descriptionModel="m" pa:descriptionSha1="${sha}"`;
    const ours = wrap(`<rdf:Description rdf:about="" ${dc} ${attrs(descriptionSha1('a cat'))}>${body('a cat')}` +
      '<pa:aiSubjects><rdf:Bag><rdf:li>cat</rdf:li><rdf:li>dog</rdf:li></rdf:Bag></pa:aiSubjects></rdf:Description>');
    assert.deepEqual(readXmp(ours).provenance, { aiSubjects: ['Cat'], descriptionSource: 'ai', descriptionModel: 'm' });
    assert.deepEqual(readXmp(ours.replace('>a cat<', '>a cat, mine<')).provenance, { aiSubjects: ['Cat'], descriptionSource: 'user' });
    assert.equal(readXmp(wrap(`<rdf:Description rdf:about="" ${dc}>${body('a cat')}</rdf:Description>`)).provenance, undefined);

    // Ours in a second rdf:Description: replaced where it is, attributes included; null removes it all.
    const split = wrap(`<rdf:Description rdf:about="" ${dc}>${body('a cat')}</rdf:Description>` +
      `<rdf:Description rdf:about="" ${attrs('0')}><pa:aiSubjects><rdf:Bag><rdf:li>sofa</rdf:li></rdf:Bag></pa:aiSubjects></rdf:Description>`);
    const replaced = mergeXmp(split, { provenance: { aiSubjects: ['cat'], descriptionSource: 'user' } });
    assert.ok(isWellFormedXml(replaced));
    assert.deepEqual(readXmp(replaced).provenance, { aiSubjects: ['Cat'], descriptionSource: 'user' });
    assert.ok(replaced.includes(`<rdf:Description rdf:about="" xmlns:pa="${PA}"><pa:descriptionSource>user</pa:descriptionSource><pa:aiSubjects>`), replaced);
    assert.equal(mergeXmp(replaced, { provenance: { aiSubjects: ['cat'], descriptionSource: 'user' } }), replaced, 'an unchanged write changes nothing');
    const removed = mergeXmp(replaced, { provenance: null });
    assert.equal(readXmp(removed).provenance, undefined);
    assert.deepEqual(readXmp(removed).subjects, ['Cat', 'sofa']);
    // The caption left untouched keeps what our namespace said about it.
    const kept = mergeXmp(ours, { subjects: ['Cat'], provenance: { aiSubjects: [] } });
    assert.deepEqual(readXmp(kept).provenance, { aiSubjects: [], descriptionSource: 'ai', descriptionModel: 'm' });
  });
});
