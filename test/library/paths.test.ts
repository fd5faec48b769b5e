// Path containment for watched folders on every platform: Windows paths checked through path.win32
// (drive letters, backslashes, case-insensitive names), so a watcher batch on Windows finds its folder.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { folderContaining, isInside } from '../../src/library/paths.ts';

test('POSIX: inside at any depth; a sibling with the same prefix, the folder itself and ../ are not', () => {
  const p = path.posix;
  assert.equal(isInside('/photos', '/photos/a.jpg', p), true);
  assert.equal(isInside('/photos', '/photos/2024/trip/a.jpg', p), true);
  assert.equal(isInside('/photos/', '/photos/a.jpg', p), true);
  assert.equal(isInside('/photos', '/photos-old/a.jpg', p), false);
  assert.equal(isInside('/photos', '/photos', p), false);
  assert.equal(isInside('/photos', '/other/a.jpg', p), false);
  assert.equal(isInside('/photos', '/photos/../etc/passwd', p), false);
  assert.equal(isInside('/photos', '/photos/..hidden/a.jpg', p), true, 'a name starting with two dots is still inside');
});

test('Windows: backslashes, forward slashes, drive letters and case are handled', () => {
  const w = path.win32;
  assert.equal(isInside('C:\\Users\\ana\\Pictures', 'C:\\Users\\ana\\Pictures\\2024\\IMG_0001.HEIC', w), true);
  assert.equal(isInside('C:\\Users\\ana\\Pictures', 'C:/Users/ana/Pictures/a.jpg', w), true);
  assert.equal(isInside('C:\\Users\\ana\\Pictures', 'c:\\users\\ANA\\pictures\\a.jpg', w), true, 'NTFS names are case-insensitive');
  assert.equal(isInside('C:\\Users\\ana\\Pictures', 'C:\\Users\\ana\\Pictures2\\a.jpg', w), false);
  assert.equal(isInside('C:\\Users\\ana\\Pictures', 'D:\\Users\\ana\\Pictures\\a.jpg', w), false, 'another drive');
  assert.equal(isInside('\\\\nas\\share\\photos', '\\\\nas\\share\\photos\\a.jpg', w), true, 'UNC paths');
  // The old check glued '/' onto the folder: no Windows path matched it.
  assert.equal('C:\\Pictures\\a.jpg'.startsWith('C:\\Pictures/'), false);
});

test('the innermost watched folder wins, on POSIX and Windows', () => {
  const posix = [{ id: 1, path: '/photos' }, { id: 2, path: '/photos/phone' }];
  assert.equal(folderContaining(posix, '/photos/phone/a.jpg', path.posix)?.id, 2);
  assert.equal(folderContaining(posix, '/photos/cam/a.jpg', path.posix)?.id, 1);
  assert.equal(folderContaining(posix, '/elsewhere/a.jpg', path.posix), undefined);
  const win = [{ id: 1, path: 'D:\\Photos' }, { id: 2, path: 'D:\\Photos\\Phone' }];
  assert.equal(folderContaining(win, 'D:\\Photos\\Phone\\IMG_1.jpg', path.win32)?.id, 2);
  assert.equal(folderContaining(win, 'd:/photos/cam/IMG_2.jpg', path.win32)?.id, 1);
  assert.equal(folderContaining(win, 'E:\\Photos\\IMG_3.jpg', path.win32), undefined);
});
