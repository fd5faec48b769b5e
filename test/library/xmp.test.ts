// XMP sidecars and embedded packets with real files in a temp dir: new sidecars, merges into
// sidecars shaped like digiKam's, darktable's and Lightroom's (every node we do not own must survive,
// checked both as a parsed tree and line by line), odd prefixes, escaping, refusal of malformed
// files, atomic writes, and XMP embedded in a JPEG made with sharp.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import sharp from 'sharp';
import {
  findSidecar, isWellFormedXml, readEmbeddedXmp, readSidecar, readXmp, sidecarPath, writeSidecar,
} from '../../src/library/xmp/index.ts';

const dir = await mkdtemp(join(tmpdir(), 'xmp-test-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
async function fixture(text: string): Promise<string> {
  const path = join(dir, `f${n++}.jpg.xmp`);
  await writeFile(path, text);
  return path;
}
const RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"';
const wrap = (desc: string) =>
  `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">\n <rdf:RDF ${RDF}>\n${desc}\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>`;
const bag = (tag: string, items: string[], kind = 'Bag') =>
  `   <${tag}>\n    <rdf:${kind}>\n${items.map((i) => `     <rdf:li>${i}</rdf:li>\n`).join('')}    </rdf:${kind}>\n   </${tag}>`;

const DIGIKAM = wrap(`  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/" xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:acdsee="http://ns.acdsee.com/iptc/1.0/"
   exif:DateTimeOriginal="2023-06-01T12:34:56" tiff:Orientation="1" xmp:Rating="4" MicrosoftPhoto:Rating="75"
   acdsee:categories="&lt;Categories&gt;&lt;Category Assigned=&quot;1&quot;&gt;Places&lt;/Category&gt;&lt;/Categories&gt;">
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Old caption</rdf:li>
     <rdf:li xml:lang="de-DE">Alte Beschriftung</rdf:li>
    </rdf:Alt>
   </dc:description>
${bag('dc:subject', ['Paris', 'Eiffel Tower'])}
${bag('digiKam:TagsList', ['Places/France/Paris', 'Eiffel Tower'], 'Seq')}
${bag('MicrosoftPhoto:LastKeywordXMP', ['Places/France/Paris'])}
${bag('lr:hierarchicalSubject', ['Places|France|Paris'])}
  </rdf:Description>`);

const history = (num: number, op: string) => `     <rdf:li
      darktable:num="${num}" darktable:operation="${op}" darktable:enabled="1" darktable:modversion="2"
      darktable:params="00000000ff3f0000" darktable:multi_name="&#10;" darktable:blendop_params="gz08eJxjYIAACQ=="/>`;
const DARKTABLE = `<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF ${RDF}>
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:darktable="http://darktable.sf.net/"
   exif:DateTimeOriginal="2023:06:01 12:34:56" xmp:Rating="1" xmpMM:DerivedFrom="IMG_0001.CR2"
   darktable:import_timestamp="63822345600000000" darktable:xmp_version="5" darktable:history_end="2">
   <darktable:masks_history>
    <rdf:Seq/>
   </darktable:masks_history>
   <darktable:history>
    <rdf:Seq>
${history(0, 'rawprepare')}
${history(1, 'exposure')}
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
`;

const LIGHTROOM = `<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00        ">
 <rdf:RDF ${RDF}>
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
   xmp:CreatorTool="Adobe Photoshop Lightroom Classic 12.0 (Windows)" xmp:Rating="5"
   photoshop:City="Paris" xmpMM:DocumentID="xmp.did:1234" crs:Version="15.0" crs:Exposure2012="+0.35" crs:HasSettings="True">
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li stEvt:action="saved" stEvt:instanceID="xmp.iid:abcd" stEvt:changed="/metadata"/>
    </rdf:Seq>
   </xmpMM:History>
${bag('dc:creator', ['Jane Doe'], 'Seq')}
   <dc:title>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Tower at dusk</rdf:li>
    </rdf:Alt>
   </dc:title>
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">An old caption</rdf:li>
    </rdf:Alt>
   </dc:description>
${bag('dc:subject', ['Paris'])}
${bag('lr:hierarchicalSubject', ['Places|France|Paris'])}
${bag('crs:ToneCurvePV2012', ['0, 0', '255, 255'], 'Seq')}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
`;

// ---- preservation checks, independent of the code under test (fast-xml-parser and regexes) ----
type Node = Record<string, unknown>;
const fxp = new XMLParser({ preserveOrder: true, ignoreAttributes: false, commentPropName: '#comment', processEntities: false, trimValues: true });
const OWNED_NS = /^@_xmlns:(dc|lr)$/;
/** The parsed tree minus what we own: dc:subject, lr:hierarchicalSubject, the x-default caption. */
function othersOf(nodes: Node[]): Node[] {
  return nodes.flatMap((node) => {
    const tag = Object.keys(node).find((k) => k !== ':@')!;
    if (tag === 'dc:subject' || tag === 'lr:hierarchicalSubject') return [];
    const attrs = Object.fromEntries(Object.entries((node[':@'] ?? {}) as Node).filter(([k]) => !OWNED_NS.test(k)));
    if (tag === 'rdf:li' && attrs['@_xml:lang'] === 'x-default') return [];
    const kids = Array.isArray(node[tag]) ? othersOf(node[tag] as Node[]) : node[tag];
    if (tag === 'dc:description' && JSON.stringify(kids).match(/rdf:li/) === null) return [];
    return [{ [tag]: kids, ...(Object.keys(attrs).length ? { ':@': attrs } : {}) }];
  });
}
/** The source lines outside our elements, our namespace declarations cut out. */
function otherLines(xml: string): string[] {
  return xml
    .replace(/\n\s*<(dc:subject|lr:hierarchicalSubject)>[\s\S]*?<\/\1>/g, '')
    .replace(/\n\s*<rdf:li xml:lang="x-default">[^<]*<\/rdf:li>/g, '')
    .replace(/\n\s*<dc:description>\s*<rdf:Alt>\s*<\/rdf:Alt>\s*<\/dc:description>/g, '')
    .replace(/\s*xmlns:(dc|lr)="[^"]*"/g, '')
    .split('\n');
}
function assertOthersPreserved(before: string, after: string): void {
  assert.ok(isWellFormedXml(after), after);
  assert.deepEqual(othersOf(fxp.parse(after) as Node[]), othersOf(fxp.parse(before) as Node[]));
  assert.deepEqual(otherLines(after), otherLines(before));
}

test('sidecarPath: ext and base naming', () => {
  assert.equal(sidecarPath('/p/IMG_1.CR2', 'ext'), '/p/IMG_1.CR2.xmp');
  assert.equal(sidecarPath('/p/IMG_1.CR2', 'base'), '/p/IMG_1.xmp');
  assert.equal(sidecarPath('/p/a.b.jpg', 'base'), '/p/a.b.xmp');
});

test('findSidecar prefers photo.jpg.xmp, then photo.xmp, and finds .XMP', async () => {
  const d = await mkdtemp(join(dir, 'find-'));
  const img = join(d, 'photo.jpg');
  assert.equal(await findSidecar(img), undefined);
  await writeFile(join(d, 'photo.XMP'), DIGIKAM);
  assert.equal((await findSidecar(img))?.toLowerCase(), join(d, 'photo.xmp').toLowerCase());
  await writeFile(join(d, 'photo.jpg.XMP'), DIGIKAM);
  assert.equal((await findSidecar(img))?.toLowerCase(), join(d, 'photo.jpg.xmp').toLowerCase());
});

test('a new sidecar is a minimal standard packet that reads back', async () => {
  const path = join(dir, 'new.jpg.xmp');
  await writeSidecar(path, { description: 'A dog on a beach', subjects: ['dog', 'beach', ' dog '], hierarchicalSubjects: ['Animals|Dog'] });
  const text = await readFile(path, 'utf8');
  assert.ok(isWellFormedXml(text));
  assert.match(text, /^<\?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"\?>\n<x:xmpmeta xmlns:x="adobe:ns:meta\/"/);
  assert.match(text, /<rdf:Description rdf:about=""\s+xmlns:dc="http:\/\/purl.org\/dc\/elements\/1.1\/"\s+xmlns:lr=/);
  assert.match(text, /<dc:description>\n {4}<rdf:Alt>\n {5}<rdf:li xml:lang="x-default">A dog on a beach<\/rdf:li>/);
  assert.match(text, /<dc:subject>\n {4}<rdf:Bag>\n {5}<rdf:li>dog<\/rdf:li>\n {5}<rdf:li>beach<\/rdf:li>\n {4}<\/rdf:Bag>/);
  assert.match(text, /<\?xpacket end="w"\?>\n$/);
  assert.deepEqual(await readSidecar(path), { description: 'A dog on a beach', subjects: ['dog', 'beach'], hierarchicalSubjects: ['Animals|Dog'] });
});

test('digiKam sidecar: our fields replaced, other languages and every other node kept', async () => {
  const path = await fixture(DIGIKAM);
  assert.deepEqual(readXmp(DIGIKAM), { description: 'Old caption', subjects: ['Paris', 'Eiffel Tower'], hierarchicalSubjects: ['Places|France|Paris'] });
  await writeSidecar(path, { description: 'A tower', subjects: ['tower', 'city'], hierarchicalSubjects: ['Places|France', 'Things|Tower'] });
  const after = await readFile(path, 'utf8');
  assert.deepEqual(readXmp(after), { description: 'A tower', subjects: ['tower', 'city'], hierarchicalSubjects: ['Places|France', 'Things|Tower'] });
  assert.match(after, /<rdf:li xml:lang="de-DE">Alte Beschriftung<\/rdf:li>/);
  assertOthersPreserved(DIGIKAM, after);
  // The checker itself notices a changed attribute or a lost node.
  assert.throws(() => assertOthersPreserved(DIGIKAM, after.replace('MicrosoftPhoto:Rating="75"', 'MicrosoftPhoto:Rating="76"')));
  assert.throws(() => assertOthersPreserved(DIGIKAM, after.replace(/<rdf:li>Places\/France\/Paris<\/rdf:li>/, '')));
  assert.ok(after.includes('acdsee:categories="&lt;Categories&gt;&lt;Category Assigned=&quot;1&quot;&gt;'), 'entities kept as written');
});

test('darktable sidecar: dc/lr namespaces added, history with nested rdf:li attributes untouched', async () => {
  const path = await fixture(DARKTABLE);
  await writeSidecar(path, { description: 'Sunset', subjects: ['sunset'], hierarchicalSubjects: ['Sky|Sunset'] });
  const after = await readFile(path, 'utf8');
  assert.deepEqual(readXmp(after), { description: 'Sunset', subjects: ['sunset'], hierarchicalSubjects: ['Sky|Sunset'] });
  assert.match(after, /darktable:history_end="2" xmlns:dc="http:\/\/purl.org\/dc\/elements\/1.1\/" xmlns:lr="http:\/\/ns.adobe.com\/lightroom\/1.0\/">/);
  assert.match(after, /<\/darktable:history>\n {3}<dc:description>\n {4}<rdf:Alt>/);
  assertOthersPreserved(DARKTABLE, after);
});

test('Lightroom sidecar: fields left undefined are untouched; null and [] remove', async () => {
  const path = await fixture(LIGHTROOM);
  await writeSidecar(path, { description: 'New caption' });
  const once = await readFile(path, 'utf8');
  assert.deepEqual(readXmp(once), { description: 'New caption', subjects: ['Paris'], hierarchicalSubjects: ['Places|France|Paris'] });
  assert.equal(once, LIGHTROOM.replace('An old caption', 'New caption'));
  await writeSidecar(path, { description: null, subjects: [] });
  const twice = await readFile(path, 'utf8');
  assert.deepEqual(readXmp(twice), { subjects: [], hierarchicalSubjects: ['Places|France|Paris'] });
  assert.doesNotMatch(twice, /dc:description|dc:subject/);
  assert.match(twice, /<dc:title>\n {4}<rdf:Alt>\n {5}<rdf:li xml:lang="x-default">Tower at dusk</);
  assertOthersPreserved(LIGHTROOM, twice);
});

test('attribute-form properties and a self-closing rdf:Description', async () => {
  const before = wrap(`  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="3" dc:description="attr caption"/>`);
  assert.equal(readXmp(before).description, 'attr caption');
  const path = await fixture(before);
  await writeSidecar(path, { description: 'element caption', subjects: ['a'], hierarchicalSubjects: ['A|B'] });
  const after = await readFile(path, 'utf8');
  const tag = '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="3" xmlns:lr="http://ns.adobe.com/lightroom/1.0/">\n   <dc:description>';
  assert.ok(after.includes(tag), after);
  assert.match(after, /<\/lr:hierarchicalSubject>\n  <\/rdf:Description>\n <\/rdf:RDF>/);
  assert.doesNotMatch(after, /dc:description="/);
  assert.deepEqual(readXmp(after), { description: 'element caption', subjects: ['a'], hierarchicalSubjects: ['A|B'] });
  assert.ok(isWellFormedXml(after));
});

// Bare rdf:RDF, several rdf:Description blocks, unusual prefixes, Seq subjects, no x-default.
const ODD = `<?xml version="1.0"?>
<R:RDF xmlns:R="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <R:Description R:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Make="Nikon"/>
 <R:Description R:about="" xmlns:purl="http://purl.org/dc/elements/1.1/" xmlns:L="http://ns.adobe.com/lightroom/1.0/">
  <purl:description><R:Alt><R:li xml:lang="fr">Caf&#233; &amp; cr&#xE8;me</R:li></R:Alt></purl:description>
  <purl:subject><R:Seq><R:li>caf&#233;</R:li><R:li><![CDATA[a<b]]></R:li></R:Seq></purl:subject>
  <L:hierarchicalSubject><R:Bag><R:li>Food|Caf&#233;</R:li></R:Bag></L:hierarchicalSubject>
 </R:Description>
</R:RDF>`;

test('odd prefixes are read and written by namespace URI', async () => {
  assert.deepEqual(readXmp(ODD), { description: 'Café & crème', subjects: ['café', 'a<b'], hierarchicalSubjects: ['Food|Café'] });
  const path = await fixture(ODD);
  await writeSidecar(path, { description: 'Coffee', subjects: ['coffee'], hierarchicalSubjects: ['Food|Coffee'] });
  const after = await readFile(path, 'utf8');
  assert.deepEqual(readXmp(after), { description: 'Coffee', subjects: ['coffee'], hierarchicalSubjects: ['Food|Coffee'] });
  // The compact lines stay compact, the French entry stays, x-default comes first, the Seq is kept.
  assert.ok(after.includes('<R:Alt><R:li xml:lang="x-default">Coffee</R:li><R:li xml:lang="fr">Caf&#233; &amp; cr&#xE8;me</R:li></R:Alt>'));
  assert.ok(after.includes('<purl:subject><R:Seq><R:li>coffee</R:li></R:Seq></purl:subject>'));
  assert.equal(after.split('\n').length, ODD.split('\n').length);
  assert.doesNotMatch(after, /xmlns:dc|xmlns:lr|<dc:|<rdf:/);
  assert.ok(after.includes('<R:Description R:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Make="Nikon"/>'));
});

test('a CRLF sidecar keeps CRLF line endings', async () => {
  const before = DARKTABLE.replace(/\n/g, '\r\n');
  const path = await fixture(before);
  await writeSidecar(path, { description: 'one\ntwo', subjects: ['x'], hierarchicalSubjects: ['A|B'] });
  const after = await readFile(path, 'utf8');
  assert.doesNotMatch(after, /[^\r]\n/);
  assert.deepEqual(readXmp(after), { description: 'one\ntwo', subjects: ['x'], hierarchicalSubjects: ['A|B'] });
  assertOthersPreserved(before.replace(/\r/g, ''), after.replace(/\r/g, ''));
});

test('special characters round-trip and are escaped', async () => {
  const path = join(dir, 'special.jpg.xmp');
  const description = `Tom & Jerry <"quoted"> it's 🐱\nline two\r\nend\ttab\u0001`;
  await writeSidecar(path, { description, subjects: ['R&D', '<tag>', '"q"', "it's", '🐶'] });
  const text = await readFile(path, 'utf8');
  assert.ok(isWellFormedXml(text));
  assert.ok(text.includes('Tom &amp; Jerry &lt;&quot;quoted&quot;&gt;') && text.includes('&#xD;'));
  const back = await readSidecar(path);
  assert.equal(back.description, description.replace('\u0001', ''), 'control characters XML cannot carry are dropped');
  assert.deepEqual(back.subjects, ['R&D', '<tag>', '"q"', "it's", '🐶']);
  const fxpText = JSON.stringify(new XMLParser({ htmlEntities: true }).parse(text));
  assert.ok(fxpText.includes('🐱'), 'another parser reads it too');
});

test('a malformed or non-XMP sidecar is refused and left byte-identical', async () => {
  const cases = [DIGIKAM.slice(0, DIGIKAM.length / 2), '<x:xmpmeta xmlns:x="adobe:ns:meta/"><a></b></x:xmpmeta>', '', '<html><body/></html>', DARKTABLE.replace('<rdf:Seq/>', '<rdf:Seq/><rdf:Seq/>x&y')];
  for (const text of cases) {
    const path = await fixture(text);
    const bytes = await readFile(path);
    await assert.rejects(writeSidecar(path, { description: 'x' }), (err: Error & { code?: string; file?: string }) => {
      assert.equal(err.code, 'invalid_argument');
      assert.equal(err.file, path);
      assert.match(err.message, /left untouched/);
      return true;
    });
    assert.deepEqual(await readFile(path), bytes);
  }
  const latin1 = await fixture('');
  await writeFile(latin1, Buffer.from(LIGHTROOM.replace('Jane Doe', 'Ren\xe9'), 'latin1'));
  await assert.rejects(writeSidecar(latin1, { subjects: ['x'] }), /not valid UTF-8; it was left untouched/);
  await assert.rejects(readSidecar(await fixture('<a>')), (err: Error & { code?: string }) => err.code === 'invalid_argument');
});

test('atomic writes: no temp files, concurrent updates both land, mode kept, no-op writes skipped', async () => {
  const d = await mkdtemp(join(dir, 'atomic-'));
  const path = join(d, 'p.jpg.xmp');
  await writeFile(path, LIGHTROOM);
  await chmod(path, 0o640);
  await Promise.all([writeSidecar(path, { description: 'caption' }), writeSidecar(path, { subjects: ['tag'] })]);
  assert.deepEqual(await readdir(d), ['p.jpg.xmp']);
  assert.deepEqual(await readSidecar(path), { description: 'caption', subjects: ['tag'], hierarchicalSubjects: ['Places|France|Paris'] });
  if (process.platform !== 'win32') assert.equal((await stat(path)).mode & 0o777, 0o640);
  const before = await stat(path);
  await writeSidecar(path, { description: 'caption', subjects: ['tag'] });
  assert.equal((await stat(path)).ino, before.ino, 'an unchanged sidecar is not rewritten');
  await assert.rejects(writeSidecar(join(d, 'missing-dir', 'x.xmp'), { description: 'x' }), (err: Error & { code?: string }) => err.code === 'io_error');
  assert.deepEqual(await readdir(d), ['p.jpg.xmp']);
});

test('isWellFormedXml', () => {
  assert.ok(isWellFormedXml(DIGIKAM) && isWellFormedXml(DARKTABLE) && isWellFormedXml(LIGHTROOM) && isWellFormedXml(ODD));
  for (const bad of ['', 'text', '<a>', '<a/><b/>', '<a>&</a>', '<a b="1" b="2"/>', '<a><b></a></b>', '<p:a/>', '<a/>junk']) {
    assert.equal(isWellFormedXml(bad), false, bad);
  }
});

test('embedded XMP: read from a JPEG made with sharp, also when the JPEG is truncated', async () => {
  const packet = wrap(`  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
${bag('dc:subject', ['kitten', 'sofa'])}
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">A kitten &amp; a sofa</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>`);
  const rgb = { create: { width: 16, height: 16, channels: 3 as const, background: { r: 200, g: 100, b: 50 } } };
  const jpg = join(dir, 'embedded.jpg');
  await sharp(rgb).jpeg().withXmp(packet).toFile(jpg);
  const want = { description: 'A kitten & a sofa', subjects: ['kitten', 'sofa'], hierarchicalSubjects: [] };
  assert.deepEqual(await readEmbeddedXmp(jpg), want);
  const png = join(dir, 'embedded.png');
  await sharp(rgb).png().withXmp(packet).toFile(png);
  assert.deepEqual(await readEmbeddedXmp(png), want);

  // Cut the file just after the APP1 segment: libvips cannot open it, our segment walk still can.
  const bytes = await readFile(jpg);
  const app1 = bytes.indexOf(Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1')) - 4;
  const truncated = join(dir, 'truncated.jpg');
  await writeFile(truncated, bytes.subarray(0, app1 + 2 + bytes.readUInt16BE(app1 + 2)));
  await assert.rejects(sharp(truncated).metadata());
  assert.deepEqual(await readEmbeddedXmp(truncated), want);

  const plain = join(dir, 'plain.jpg');
  await sharp(rgb).jpeg().toFile(plain);
  assert.equal(await readEmbeddedXmp(plain), undefined);
  await assert.rejects(readEmbeddedXmp(join(dir, 'nope.jpg')), (err: Error & { code?: string }) => err.code === 'photo_unreadable');
});
