// Our XMP sidecars read back by the tools people use, not only by our own reader: exiftool
// (Phil Harvey's, as digiKam and many DAMs rely on) and exiv2 (the library inside digiKam, darktable,
// gThumb). A new sidecar, and a merge into a digiKam-shaped one, must show the caption, the keywords,
// the hierarchical keywords and our provenance namespace, and keep the other tool's fields.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeSidecar } from '../../src/library/xmp/index.ts';

const dir = await mkdtemp(join(tmpdir(), 'xmp-tools-'));
after(() => rm(dir, { recursive: true, force: true }));

const exiftool = (path: string) => JSON.parse(execFileSync('exiftool', ['-j', '-G1', '-struct', '-XMP:all', path], { encoding: 'utf8' }))[0];
const exiv2 = (path: string) => execFileSync('exiv2', ['-PXkt', 'pr', path], { encoding: 'utf8' });

const caption = 'Two kids building a sandcastle, "castle" & <moat>';
const update = {
  description: caption,
  subjects: ['beach', 'sandcastle', 'Ölmühle'],
  hierarchicalSubjects: ['Places|beach'],
  provenance: { aiSubjects: ['sandcastle'], descriptionSource: 'ai' as const, descriptionModel: 'Salesforce/blip2-opt-2.7b@abc1234 int4' },
};

test('a new sidecar reads back in exiftool and exiv2', async () => {
  const path = join(dir, 'new.jpg.xmp');
  await writeSidecar(path, update);
  const et = exiftool(path);
  assert.equal(et['XMP-dc:Description'], caption);
  assert.deepEqual(et['XMP-dc:Subject'], ['beach', 'sandcastle', 'Ölmühle']);
  assert.deepEqual(et['XMP-lr:HierarchicalSubject'], ['Places|beach']);
  assert.equal(et['XMP-photoassistant:DescriptionSource'], 'ai');
  assert.equal(et['XMP-photoassistant:DescriptionModel'], 'Salesforce/blip2-opt-2.7b@abc1234 int4');
  assert.deepEqual(et['XMP-photoassistant:AiSubjects'], ['sandcastle']);
  const ev = exiv2(path);
  assert.match(ev, /Xmp\.dc\.description\s+lang="x-default" Two kids building a sandcastle, "castle" & <moat>/);
  assert.match(ev, /Xmp\.dc\.subject\s+beach, sandcastle, Ölmühle/);
  assert.match(ev, /Xmp\.lr\.hierarchicalSubject\s+Places\|beach/);
});

test('a merge into a digiKam sidecar keeps its fields and other languages, as the tools read them', async () => {
  const path = join(dir, 'digikam.jpg.xmp');
  await writeFile(path, `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
   xmp:Rating="4">
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Old caption</rdf:li>
     <rdf:li xml:lang="de-DE">Alte Beschriftung</rdf:li>
    </rdf:Alt>
   </dc:description>
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>Places/Beach</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
`);
  await writeSidecar(path, update);
  const et = exiftool(path);
  assert.equal(et['XMP-dc:Description'], caption);
  assert.equal(et['XMP-dc:Description-de-DE'], 'Alte Beschriftung');
  assert.equal(et['XMP-xmp:Rating'], 4);
  assert.deepEqual(et['XMP-digiKam:TagsList'], ['Places/Beach']);
  const ev = exiv2(path);
  assert.match(ev, /Xmp\.dc\.description\s+lang="x-default" Two kids/);
  assert.match(ev, /lang="de-DE" Alte Beschriftung/);
  assert.match(ev, /Xmp\.digiKam\.TagsList\s+Places\/Beach/);
});
