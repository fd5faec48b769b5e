// The catalog against a real SQLite file in a temp dir and real photo files on disk: migrations and
// refusals on open, what moves, copies, edits and deletions do to photos, offline folders, the
// caption and tag provenance rules, XMP imports, and the JSON/CSV export read back by hand.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { closeSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { exportCatalog } from '../../src/library/catalog/export.ts';
import { migrations } from '../../src/library/catalog/migrations.ts';
import { stats } from '../../src/library/catalog/stats.ts';
import type { Folder } from '../../src/library/catalog/types.ts';
import { sqlOf } from '../helpers/catalog-sql.ts';

let root: string;
before(async () => (root = await mkdtemp(join(tmpdir(), 'pa-catalog-'))));
after(() => rm(root, { recursive: true, force: true }));

let n = 0;
/** A fresh catalog file and photo folder per test, with a clock that ticks 1 ms per call. */
function fresh(): { cat: Catalog; dbFile: string; dir: string; folder: Folder } {
  const base = join(root, `t${++n}`);
  const dir = join(base, 'photos');
  mkdirSync(dir, { recursive: true });
  const dbFile = join(base, 'catalog.db');
  let t = 1_700_000_000_000;
  const cat = Catalog.open(dbFile, { now: () => t++ });
  return { cat, dbFile, dir, folder: cat.addFolder(dir) };
}

/** Writes a real file and records it the way the scanner would (hash = the content here). */
function put(cat: Catalog, folder: Folder, path: string, content: string) {
  writeFileSync(path, content);
  return cat.recordFile({ path, folderId: folder.id, hash: `sha:${content}`, size: content.length, mtimeMs: 1000.5 });
}

function rejectsWith(fn: () => unknown, code: string, ...mustName: string[]): void {
  assert.throws(fn, (e: any) => {
    assert.equal(e.code, code, e.message);
    for (const s of mustName) assert.ok(e.message.includes(s), `message names ${s}: ${e.message}`);
    return true;
  });
}

describe('opening the catalog file', () => {
  it('migrates a fresh file to the latest version with WAL, foreign keys and a clean integrity check', () => {
    const { cat, dbFile } = fresh();
    assert.equal(sqlOf(cat).pragma('user_version', { simple: true }), migrations.length);
    assert.equal(sqlOf(cat).pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(sqlOf(cat).pragma('foreign_keys', { simple: true }), 1);
    assert.equal(sqlOf(cat).pragma('synchronous', { simple: true }), 1); // NORMAL
    assert.ok((sqlOf(cat).pragma('busy_timeout', { simple: true }) as number) > 0);
    const tables = (sqlOf(cat).prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    assert.deepEqual(tables, ['captions', 'embeddings', 'folders', 'jobs', 'photo_files', 'photos', 'settings', 'tags', 'text_embeddings', 'vocabulary']);
    assert.equal(cat.integrityCheck(), 'ok');
    cat.close();
    cat.close(); // closing twice is harmless
    // Reopening keeps the data and runs no migration again.
    const again = Catalog.open(dbFile);
    assert.equal(again.listFolders().length, 1);
    assert.equal(sqlOf(again).pragma('user_version', { simple: true }), migrations.length);
    again.close();
  });

  it('refuses a catalog from a newer app version, naming the file', () => {
    const { cat, dbFile } = fresh();
    sqlOf(cat).pragma(`user_version = ${migrations.length + 1}`);
    cat.close();
    rejectsWith(() => Catalog.open(dbFile), 'invalid_argument', dbFile, 'newer');
  });

  it('refuses a file that is not SQLite, naming the file', () => {
    const path = join(root, 'garbage.db');
    writeFileSync(path, 'this is a text file, not a database\n'.repeat(200));
    rejectsWith(() => Catalog.open(path), 'io_error', path, 'not a SQLite database');
  });

  it('refuses a corrupt catalog, naming the file', () => {
    const { cat, dbFile } = fresh();
    cat.close();
    // Overwrite the schema page after the 100-byte header: still 'SQLite format 3', unreadable inside.
    const fd = openSync(dbFile, 'r+');
    writeSync(fd, Buffer.alloc(3000, 0xab), 0, 3000, 100);
    closeSync(fd);
    rejectsWith(() => Catalog.open(dbFile), 'io_error', dbFile, 'corrupt');
  });

  it('refuses a missing directory and another program’s SQLite database', () => {
    const nowhere = join(root, 'no-such-dir', 'catalog.db');
    rejectsWith(() => Catalog.open(nowhere), 'io_error', nowhere);
    const other = join(root, 'other-app.db');
    const db = new Database(other);
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    db.close();
    rejectsWith(() => Catalog.open(other), 'invalid_argument', other, 'not a Photo Assistant catalog');
  });
});

describe('photos and their files', () => {
  let cat: Catalog;
  let dir: string;
  let folder: Folder;
  beforeEach(() => ({ cat, dir, folder } = fresh()));

  it('records a new file once and skips nothing on a re-scan of the same file', () => {
    const p = join(dir, 'a.jpg');
    const first = put(cat, folder, p, 'AAA');
    assert.deepEqual(first, { photoId: first.photoId, created: true, moved: false });
    const f = cat.fileByPath(p)!;
    assert.deepEqual([f.hash, f.size, f.mtimeMs, f.state], ['sha:AAA', 3, 1000.5, 'present']);
    assert.deepEqual(put(cat, folder, p, 'AAA'), { photoId: first.photoId, created: false, moved: false });
    assert.equal(cat.listPhotos({ limit: 10, offset: 0 }).length, 1);
    assert.equal(cat.confirmFile(p), true);
    assert.equal(cat.confirmFile(join(dir, 'unknown.jpg')), false);
    rejectsWith(() => cat.recordFile({ path: 'relative.jpg', folderId: folder.id, hash: 'h', size: 1, mtimeMs: 1 }), 'invalid_argument', 'relative.jpg');
    rejectsWith(() => cat.recordFile({ path: join(dir, 'b.jpg'), folderId: 999, hash: 'h', size: 1, mtimeMs: 1 }), 'invalid_argument', 'folder');
  });

  it('keeps captions and tags through a rename, whether the old path was marked missing or just vanished', () => {
    const a = join(dir, 'a.jpg');
    const { photoId } = put(cat, folder, a, 'AAA');
    cat.addAiCaption(photoId, { text: 'a cat on a sofa', modelId: 'blip2-opt-2.7b' });
    cat.addUserTag(photoId, 'cat');

    // The scanner saw the old path gone first.
    const b = join(dir, 'b.jpg');
    renameSync(a, b);
    cat.markFileMissing(a);
    assert.equal(cat.photo(photoId)!.state, 'missing');
    const moved = cat.recordFile({ path: b, folderId: folder.id, hash: 'sha:AAA', size: 3, mtimeMs: 2000 });
    assert.deepEqual(moved, { photoId, created: false, moved: true, previousPath: a });
    assert.deepEqual(cat.photoPaths(photoId), [b]);
    assert.equal(cat.fileByPath(a), undefined);
    assert.equal(cat.photo(photoId)!.state, 'active');

    // The watcher reported the new name before the old one's removal: the old row is still
    // 'present' but the file is gone from disk.
    const c = join(dir, 'sub-c.jpg');
    renameSync(b, c);
    const moved2 = cat.recordFile({ path: c, folderId: folder.id, hash: 'sha:AAA', size: 3, mtimeMs: 3000 });
    assert.deepEqual(moved2, { photoId, created: false, moved: true, previousPath: b });
    assert.deepEqual(cat.photoPaths(photoId), [c]);
    assert.equal(cat.currentCaption(photoId)!.text, 'a cat on a sofa');
    assert.deepEqual(cat.tagsOf(photoId).map((t) => t.label), ['cat']);
    assert.equal(cat.listPhotos().length, 1);
  });

  it('lists duplicate copies as two paths of one photo', () => {
    const a = join(dir, 'a.jpg');
    const copy = join(dir, 'copy of a.jpg');
    const { photoId } = put(cat, folder, a, 'AAA');
    assert.deepEqual(put(cat, folder, copy, 'AAA'), { photoId, created: false, moved: false });
    assert.deepEqual(cat.photoPaths(photoId), [a, copy]);
    // Deleting one copy leaves the photo active with the other.
    unlinkSync(copy);
    cat.markFileMissing(copy);
    assert.equal(cat.photo(photoId)!.state, 'active');
    assert.deepEqual(cat.photoPaths(photoId), [a]);
  });

  it('points an edited file at the new content, leaving the old photo missing with its caption', () => {
    const a = join(dir, 'a.jpg');
    const old = put(cat, folder, a, 'version 1');
    cat.setUserCaption(old.photoId, 'before the edit');
    const edited = put(cat, folder, a, 'version 2');
    assert.equal(edited.created, true);
    assert.notEqual(edited.photoId, old.photoId);
    assert.equal(cat.fileByPath(a)!.photoId, edited.photoId);
    assert.equal(cat.photo(old.photoId)!.state, 'missing');
    assert.equal(cat.currentCaption(old.photoId)!.text, 'before the edit');
    assert.equal(cat.currentCaption(edited.photoId), undefined);
    // Reverting the edit revives the old photo at the same path.
    const reverted = put(cat, folder, a, 'version 1');
    assert.deepEqual(reverted, { photoId: old.photoId, created: false, moved: false });
    assert.equal(cat.photo(old.photoId)!.state, 'active');
    assert.equal(cat.photo(edited.photoId)!.state, 'missing');
  });

  it('revives a missing photo with its history when the same content is added again', () => {
    const a = join(dir, 'a.jpg');
    const { photoId } = put(cat, folder, a, 'AAA');
    cat.addAiCaption(photoId, { text: 'a lighthouse', modelId: 'm' });
    cat.addAiTags(photoId, [{ label: 'lighthouse', score: 0.9 }]);
    unlinkSync(a);
    assert.equal(cat.markFileMissing(a), true);
    assert.equal(cat.photo(photoId)!.state, 'missing');
    assert.deepEqual(cat.listPhotos({ state: 'missing' }).map((p) => p.id), [photoId]);
    assert.deepEqual(cat.photoPaths(photoId), []);
    assert.equal(cat.photoFiles(photoId)[0].state, 'missing');
    const back = put(cat, folder, a, 'AAA');
    assert.deepEqual(back, { photoId, created: false, moved: false });
    assert.equal(cat.photo(photoId)!.state, 'active');
    assert.equal(cat.currentCaption(photoId)!.text, 'a lighthouse');
    assert.deepEqual(cat.tagsOf(photoId).map((t) => t.label), ['lighthouse']);
  });

  it('keeps everything of an offline folder and confirms files when it is back', () => {
    const a = join(dir, 'a.jpg');
    const b = join(dir, 'b.jpg');
    const pa = put(cat, folder, a, 'AAA');
    put(cat, folder, b, 'BBB');
    cat.setUserCaption(pa.photoId, 'on the external drive');
    cat.setFolderStatus(folder.id, 'offline');
    assert.equal(cat.folder(folder.id)!.status, 'offline');
    assert.deepEqual(cat.filesUnder(folder.id).map((f) => f.state), ['offline', 'offline']);
    assert.equal(cat.photo(pa.photoId)!.state, 'active', 'an unplugged drive is not a deletion');
    assert.deepEqual(cat.photoPaths(pa.photoId), [a]);

    // A copy of the same content elsewhere while the drive is away is a copy, not a move.
    const elsewhere = cat.addFolder(join(root, `elsewhere-${n}`));
    mkdirSync(elsewhere.path);
    const copy = put(cat, elsewhere, join(elsewhere.path, 'a.jpg'), 'AAA');
    assert.equal(copy.moved, false);

    cat.setFolderStatus(folder.id, 'online');
    assert.deepEqual(cat.filesUnder(folder.id).map((f) => f.state), ['offline', 'offline'], 'only the scan confirms files');
    assert.equal(cat.confirmFile(a), true);
    cat.markFileMissing(b);
    cat.touchFolderScan(folder.id);
    assert.deepEqual(cat.filesUnder(folder.id).map((f) => [f.path, f.state]), [[a, 'present'], [b, 'missing']]);
    assert.ok(cat.folder(folder.id)!.lastScanAt! > 0);
    assert.equal(cat.currentCaption(pa.photoId)!.text, 'on the external drive');
    assert.equal(cat.addFolder(dir).id, folder.id, 'adding a folder twice returns the same folder');
  });

  it('pages photos', () => {
    for (let i = 0; i < 5; i++) put(cat, folder, join(dir, `${i}.jpg`), `content ${i}`);
    assert.deepEqual(cat.listPhotos({ limit: 2, offset: 2 }).map((p) => p.hash), ['sha:content 2', 'sha:content 3']);
    rejectsWith(() => cat.listPhotos({ limit: -1 }), 'invalid_argument');
  });
});

describe('captions and tags', () => {
  let cat: Catalog;
  let photoId: number;
  beforeEach(() => {
    const f = fresh();
    cat = f.cat;
    photoId = put(cat, f.folder, join(f.dir, 'a.jpg'), 'AAA').photoId;
  });

  it('never overwrites the user’s caption with AI output, but keeps the AI caption in history', () => {
    const ai1 = cat.addAiCaption(photoId, { text: ' a dog ', modelId: 'blip2', prompt: 'a photo of', settings: { beams: 3 } });
    assert.equal(ai1.isCurrent, true);
    assert.equal(ai1.text, 'a dog');
    assert.deepEqual(ai1.settings, { beams: 3 });
    const user = cat.setUserCaption(photoId, 'Rex at the beach, 2019');
    assert.equal(user.provenance, 'user');
    const ai2 = cat.addAiCaption(photoId, { text: 'a dog on a beach', modelId: 'blip2-large' });
    assert.equal(ai2.isCurrent, false);
    assert.equal(cat.currentCaption(photoId)!.text, 'Rex at the beach, 2019');
    assert.deepEqual(cat.captionHistory(photoId).map((c) => [c.text, c.provenance, c.isCurrent]), [
      ['a dog on a beach', 'ai', false],
      ['Rex at the beach, 2019', 'user', true],
      ['a dog', 'ai', false],
    ]);
    assert.equal(cat.setUserCaption(photoId, 'Rex at the beach, 2019').id, user.id, 'same text adds no history');
    rejectsWith(() => cat.setUserCaption(photoId, '   '), 'invalid_argument');
    rejectsWith(() => cat.addAiCaption(999, { text: 'x', modelId: 'm' }), 'invalid_argument', '999');
  });

  it('never brings back a tag the user rejected and never downgrades a user tag', () => {
    assert.equal(cat.addAiTags(photoId, [{ label: 'dog', score: 0.9 }, { label: 'beach', score: 0.7 }, { label: 'cat', score: 0.2 }]), 3);
    cat.rejectTag(photoId, 'cat');
    cat.acceptTag(photoId, 'beach');
    cat.addUserTag(photoId, 'Rex');
    cat.rejectTag(photoId, 'frisbee'); // rejected before the model ever suggested it
    assert.equal(cat.addAiTags(photoId, [{ label: 'CAT', score: 0.95 }, { label: 'rex', score: 0.5 }, { label: 'beach', score: 0.1 }, { label: 'frisbee', score: 0.8 }, { label: 'sand', score: 0.4 }]), 1);
    const tags = cat.tagsOf(photoId);
    assert.deepEqual(tags.map((t) => [t.label, t.provenance, t.state]), [
      ['beach', 'ai', 'accepted'],
      ['Rex', 'user', 'accepted'],
      ['dog', 'ai', 'suggested'],
      ['sand', 'ai', 'suggested'],
    ]);
    assert.equal(tags.find((t) => t.label === 'beach')!.score, 0.1, 'the score is refreshed, the acceptance kept');
    assert.equal(tags.find((t) => t.label === 'Rex')!.score, null);
    assert.deepEqual(cat.allTags(photoId).filter((t) => t.state === 'rejected').map((t) => t.label), ['cat', 'frisbee']);
    // The user may change their mind; that is theirs to do, not the model's.
    cat.addUserTag(photoId, 'cat');
    assert.ok(cat.tagsOf(photoId).some((t) => t.label === 'cat' && t.provenance === 'user'));
    rejectsWith(() => cat.addUserTag(photoId, '  '), 'invalid_argument');
  });

  it('imports XMP description and keywords as the user’s, once, without reviving rejections', () => {
    cat.addAiTags(photoId, [{ label: 'mountain', score: 0.8 }, { label: 'snow', score: 0.6 }]);
    cat.rejectTag(photoId, 'snow');
    const r = cat.importUserMetadata(photoId, { description: 'Summit of Mont Blanc', subjects: ['mountain', 'snow', 'Alps', ' '] });
    assert.deepEqual(r, { captionAdded: true, tagsAdded: 1 });
    assert.deepEqual([cat.currentCaption(photoId)!.text, cat.currentCaption(photoId)!.provenance], ['Summit of Mont Blanc', 'user']);
    assert.deepEqual(cat.tagsOf(photoId).map((t) => [t.label, t.provenance, t.state]), [
      ['Alps', 'user', 'accepted'],
      ['mountain', 'user', 'accepted'],
    ]);
    // Reading the same XMP again changes nothing.
    assert.deepEqual(cat.importUserMetadata(photoId, { description: 'Summit of Mont Blanc', subjects: ['Alps'] }), { captionAdded: false, tagsAdded: 0 });
    assert.equal(cat.captionHistory(photoId).length, 1);
    // Our own AI caption written back to XMP and read again must not turn into a user caption.
    const other = cat.recordFile({ path: join(root, `t${n}`, 'photos', 'b.jpg'), folderId: cat.listFolders()[0].id, hash: 'sha:B', size: 1, mtimeMs: 1 });
    cat.addAiCaption(other.photoId, { text: 'a red car', modelId: 'm' });
    assert.equal(cat.importUserMetadata(other.photoId, { description: 'a red car' }).captionAdded, false);
    assert.equal(cat.currentCaption(other.photoId)!.provenance, 'ai');
  });

  it('replacing AI suggestions withdraws stale ones and keeps accepted, rejected and user tags', () => {
    const { cat: c, dir, folder } = fresh();
    const { photoId: id } = put(c, folder, join(dir, 'r.jpg'), 'R');
    c.addAiTags(id, [{ label: 'beach', score: 4 }, { label: 'dog', score: 3.8 }, { label: 'sunset', score: 3.6 }, { label: 'kite', score: 3.7 }]);
    c.acceptTag(id, 'beach');
    c.rejectTag(id, 'dog');
    c.addUserTag(id, 'Holiday');
    assert.equal(c.replaceAiSuggestions(id, [{ label: 'sea', score: 5 }, { label: 'kite', score: 3.9 }]), 1);
    assert.deepEqual(c.allTags(id).map((t) => [t.label, t.provenance, t.state]).sort(), [
      ['Holiday', 'user', 'accepted'], ['beach', 'ai', 'accepted'], ['dog', 'ai', 'rejected'], ['kite', 'ai', 'suggested'], ['sea', 'ai', 'suggested'],
    ]);
    assert.equal(c.allTags(id).find((t) => t.label === 'kite')!.score, 3.9);
    c.close();
  });
});

describe('export and stats', () => {
  it('exports JSON and RFC 4180 CSV that parse back to the same data', () => {
    const { cat, dir, folder } = fresh();
    const a = put(cat, folder, join(dir, 'a, with comma.jpg'), 'AAA');
    put(cat, folder, join(dir, 'copy.jpg'), 'AAA');
    const b = put(cat, folder, join(dir, 'b.jpg'), 'BBB');
    put(cat, folder, join(dir, 'gone.jpg'), 'GONE');
    cat.markFileMissing(join(dir, 'gone.jpg'));
    cat.setUserCaption(a.photoId, 'She said "cheese",\nthen laughed');
    cat.addUserTag(a.photoId, 'family');
    cat.addAiTags(a.photoId, [{ label: 'smile', score: 0.9 }, { label: 'hat', score: 0.3 }]);
    cat.rejectTag(a.photoId, 'hat');
    cat.addAiCaption(b.photoId, { text: 'a plain caption', modelId: 'm' });

    const json = JSON.parse(exportCatalog(cat, 'json'));
    const expected = [
      { paths: [join(dir, 'a, with comma.jpg'), join(dir, 'copy.jpg')], hash: 'sha:AAA', caption: 'She said "cheese",\nthen laughed', captionProvenance: 'user', tags: ['family', 'smile'] },
      { paths: [join(dir, 'b.jpg')], hash: 'sha:BBB', caption: 'a plain caption', captionProvenance: 'ai', tags: [] },
    ];
    assert.deepEqual(json, expected);
    assert.equal(JSON.parse(exportCatalog(cat, 'json', { includeMissing: true })).length, 3);

    const csv = exportCatalog(cat, 'csv');
    assert.ok(csv.includes('"She said ""cheese"",\nthen laughed"'), csv);
    const rows = parseCsv(csv);
    assert.deepEqual(rows[0], ['hash', 'paths', 'caption', 'caption_provenance', 'tags']);
    assert.deepEqual(rows.slice(1), expected.map((e) => [e.hash, e.paths.join('|'), e.caption, e.captionProvenance, e.tags.join(';')]));
    assert.throws(() => exportCatalog(cat, 'xml' as never), (e: any) => e.code === 'invalid_argument');
  });

  it('summarises the library for a status command', () => {
    const { cat, dir, folder } = fresh();
    const a = put(cat, folder, join(dir, 'a.jpg'), 'AAA');
    const b = put(cat, folder, join(dir, 'b.jpg'), 'BBB');
    put(cat, folder, join(dir, 'c.jpg'), 'CCC');
    cat.markFileMissing(join(dir, 'c.jpg'));
    cat.setUserCaption(a.photoId, 'mine');
    cat.addAiCaption(b.photoId, { text: 'theirs', modelId: 'm' });
    const q = cat.jobs;
    q.enqueue(a.photoId, 'caption', { force: true, maxAttempts: 1 });
    const job = q.claimNext('w')!;
    assert.equal(q.fail(job.id, { code: 'photo_unreadable', message: 'truncated JPEG' }), 'failed');
    const s = stats(cat);
    assert.deepEqual(s.photos, { active: 2, missing: 1, total: 3 });
    assert.deepEqual(s.files, { present: 2, missing: 1, offline: 0 });
    assert.deepEqual(s.folders.map((f) => [f.path, f.status, f.files.present]), [[dir, 'online', 2]]);
    assert.deepEqual([s.captioned, s.userCaptioned], [2, 1]);
    assert.deepEqual(s.jobs, { pending: 0, running: 0, done: 0, failed: 1 });
    assert.deepEqual(s.failedJobs.map((f) => [f.path, f.error.code, f.error.message]), [[join(dir, 'a.jpg'), 'photo_unreadable', 'truncated JPEG']]);
    assert.equal(cat.integrityCheck(), 'ok');
  });
});

/** A strict RFC 4180 reader, written here so the test does not trust the writer's own logic. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (ch === '"') { quoted = false; i++; continue; }
      field += ch; i++; continue;
    }
    if (ch === '"') { assert.equal(field, '', 'a quote may only open a field'); quoted = true; i++; continue; }
    if (ch === ',') { row.push(field); field = ''; i++; continue; }
    if (ch === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 2; continue; }
    assert.ok(ch !== '\n' && ch !== '\r', `bare line break outside quotes at ${i}`);
    field += ch; i++;
  }
  assert.equal(quoted, false, 'unterminated quote');
  assert.equal(field, '', 'the last row ends with CRLF');
  return rows;
}
