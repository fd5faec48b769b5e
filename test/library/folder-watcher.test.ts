// The folder watcher on real folders with real inotify (and polling): completed writes only,
// coalesced batches, roots that vanish and return, and the fallback when watches run out.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { FolderWatcher, type FolderWatcherOptions, type WatchBatch } from '../../src/library/folder-watcher.ts';
import { FIXTURES, makeTempDir } from '../helpers/fixtures.ts';

const JPG = readFileSync(join(FIXTURES, 'images', 'small_64x48.jpg'));
const FAST: FolderWatcherOptions = { stabilityMs: 200, debounceMs: 100, maxWaitMs: 1000, rootCheckMs: 300, pollIntervalMs: 100 };
const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let n = 0;
before(async () => {
  dir = await makeTempDir();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A started watcher on a fresh root, recording everything it says. */
async function watched(opts: FolderWatcherOptions = {}) {
  const root = join(dir, `root${++n}`);
  mkdirSync(root);
  const w = new FolderWatcher([root], { ...FAST, ...opts });
  const batches: (WatchBatch & { at: number })[] = [];
  const log: string[] = [];
  const warnings: string[] = [];
  w.on('batch', (b) => { batches.push({ ...b, at: Date.now() }); log.push('batch'); });
  w.on('rootGone', (e) => log.push(`gone ${e.root}`));
  w.on('rootBack', (e) => log.push(`back ${e.root}`));
  w.on('warning', (e) => warnings.push(e.message));
  await w.ready();
  const all = (key: keyof WatchBatch) => batches.flatMap((b) => b[key]);
  const until = async (what: string, cond: () => boolean, ms = 8000) => {
    const started = Date.now();
    const end = started + ms;
    while (!cond()) {
      if (Date.now() > end) {
        const sizes = batches.map((b) => `+${b.added.length}/~${b.changed.length}/-${b.removed.length} at ${b.at - started} ms`);
        const detail = batches.length > 10 || batches.some((b) => b.added.length > 20) ? sizes.join(', ') : JSON.stringify(batches);
        assert.fail(`timed out waiting for ${what} after ${ms} ms; batches: ${detail}; log: ${log}; warnings: ${warnings.join(' | ')}`);
      }
      await sleep(25);
    }
  };
  return { root, w, batches, log, warnings, all, until };
}

test('a file written slowly is reported once, after it is complete; change and delete follow', async () => {
  const { root, w, all, until, batches } = await watched();
  try {
    const file = join(root, 'slow.jpg');
    writeFileSync(file, JPG.subarray(0, 100));
    for (let at = 100; at < JPG.length; at += 100) {
      await sleep(40); // well under the 200 ms stability window
      appendFileSync(file, JPG.subarray(at, at + 100));
    }
    const done = Date.now();
    await until('the add', () => all('added').includes(file));
    assert.ok(batches[0].at >= done, 'reported only after the last chunk');
    await sleep(400);
    assert.deepEqual(all('added'), [file], 'reported exactly once');
    assert.deepEqual(all('changed'), []);

    appendFileSync(file, Buffer.alloc(64)); // JPEG readers ignore bytes after the end marker
    await until('the change', () => all('changed').includes(file));
    rmSync(file);
    await until('the removal', () => all('removed').includes(file));
    assert.deepEqual(all('added'), [file]);
  } finally {
    await w.close();
  }
});

test('rename is removed + added; folders deleted are removedDirs; non-images and ignored files are not reported', async () => {
  const { root, w, all, until } = await watched();
  try {
    mkdirSync(join(root, 'album'));
    writeFileSync(join(root, 'album', 'a.jpg'), JPG);
    await until('the add', () => all('added').includes(join(root, 'album', 'a.jpg')));
    renameSync(join(root, 'album', 'a.jpg'), join(root, 'album', 'b.jpg'));
    await until('the rename', () => all('removed').includes(join(root, 'album', 'a.jpg')) && all('added').includes(join(root, 'album', 'b.jpg')));

    mkdirSync(join(root, '.hidden'));
    writeFileSync(join(root, '.hidden', 'h.jpg'), JPG);
    writeFileSync(join(root, 'b.xmp'), JPG);
    writeFileSync(join(root, 'notes.txt'), 'hello');
    writeFileSync(join(root, 'text.jpg'), 'a text file in disguise');
    writeFileSync(join(root, 'marker.png'), readFileSync(join(FIXTURES, 'images', 'gradient_320x200.png')));
    await until('the marker', () => all('added').includes(join(root, 'marker.png')));
    assert.deepEqual(all('added').sort(), [join(root, 'album', 'a.jpg'), join(root, 'album', 'b.jpg'), join(root, 'marker.png')]);

    rmSync(join(root, 'album'), { recursive: true });
    await until('the folder removal', () => all('removedDirs').includes(join(root, 'album')));
    assert.ok(all('removed').includes(join(root, 'album', 'b.jpg')));
  } finally {
    await w.close();
  }
});

test('a deleted root is rootGone (its files offline, not removed), and rootBack when recreated', async () => {
  const { root, w, all, until, log } = await watched();
  try {
    writeFileSync(join(root, 'a.jpg'), JPG);
    await until('the add', () => all('added').length === 1);
    rmSync(root, { recursive: true });
    await until('rootGone', () => log.includes(`gone ${root}`));
    assert.deepEqual(all('removed'), [], 'a vanished root does not delete its photos from the catalog');

    mkdirSync(root);
    await until('rootBack', () => log.includes(`back ${root}`));
    writeFileSync(join(root, 'again.jpg'), JPG);
    await until('the add after coming back', () => all('added').includes(join(root, 'again.jpg')));
  } finally {
    await w.close();
  }
});

test('a renamed root is gone until it returns under its name', async () => {
  const { root, w, until, log } = await watched();
  try {
    renameSync(root, `${root}-moved`);
    await until('rootGone', () => log.includes(`gone ${root}`));
    renameSync(`${root}-moved`, root);
    await until('rootBack', () => log.includes(`back ${root}`));
  } finally {
    await w.close();
  }
});

test('a file that is not an image yet when it arrives (still being written) is reported as added once it is', async () => {
  const { root, w, all, until } = await watched();
  try {
    writeFileSync(join(root, 'late.jpg'), '');
    await sleep(1500); // stable and sniffed while empty: not an image, nothing reported
    assert.deepEqual(all('added'), []);
    writeFileSync(join(root, 'late.jpg'), JPG);
    await until('late.jpg added', () => all('added').includes(join(root, 'late.jpg')));
    assert.deepEqual(all('changed'), [], 'a photo the consumer never saw is not a change');
    writeFileSync(join(root, 'never.jpg'), '');
    await sleep(1500);
    rmSync(join(root, 'never.jpg'));
    await sleep(1500);
    assert.ok(!all('removed').includes(join(root, 'never.jpg')), 'never reported, so not removed either');
  } finally {
    await w.close();
  }
});

test('2,000 files copied at once: a few bounded batches, each path exactly once', async () => {
  const staging = join(dir, 'staging');
  mkdirSync(staging);
  for (let i = 0; i < 2000; i++) writeFileSync(join(staging, `p${String(i).padStart(4, '0')}.jpg`), JPG);
  const { root, w, batches, all, until } = await watched({ maxBatch: 500 });
  try {
    // Another program does the copying, as in real life (an in-process fs.cp would compete with
    // chokidar for libuv's four threads and crawl).
    await execFileP('cp', ['-r', staging, join(root, 'import')]);
    await until('all 2,000', () => all('added').length >= 2000, 30_000);
    await sleep(500); // anything late or duplicated would arrive now
    const added = all('added');
    assert.equal(added.length, 2000);
    assert.equal(new Set(added).size, 2000, 'no path twice');
    assert.ok(batches.every((b) => b.added.length <= 500), `batch sizes ${batches.map((b) => b.added.length)}`);
    assert.ok(batches.length >= 4 && batches.length <= 20, `${batches.length} batches`);
  } finally {
    await w.close();
  }
});

test('a new folder is listed again once settled: files the watcher never reported are added, each once', async () => {
  // chokidar reads a new folder and then watches it; files written in between are never reported.
  // Dropping its 'add' events for some files reproduces that gap without depending on timing.
  const { root, w, all, until } = await watched({
    createWatcher: (path, options) => {
      const fsw = chokidarWatch(path, options);
      const emit = fsw.emit.bind(fsw) as (event: string, ...args: unknown[]) => boolean;
      fsw.emit = ((event: string, ...args: unknown[]) => (event === 'add' && /lost-/.test(String(args[0])) ? false : emit(event, ...args))) as typeof fsw.emit;
      return fsw;
    },
  });
  try {
    const staging = join(dir, `staging-sweep-${n}`);
    mkdirSync(join(staging, 'nested'), { recursive: true });
    for (const name of ['seen-1.jpg', 'lost-1.jpg', 'nested/lost-2.jpg', 'nested/seen-2.jpg']) writeFileSync(join(staging, name), JPG);
    writeFileSync(join(staging, 'lost-notes.txt'), 'not a photo');
    await execFileP('cp', ['-r', staging, join(root, 'card')]);
    const want = ['card/lost-1.jpg', 'card/nested/lost-2.jpg', 'card/nested/seen-2.jpg', 'card/seen-1.jpg'].map((f) => join(root, f));
    await until('all four photos', () => want.every((f) => all('added').includes(f)), 15_000);
    await sleep(800);
    assert.deepEqual([...all('added')].sort(), want, 'each photo once, the text file never');
  } finally {
    await w.close();
  }
});

test('out of inotify watches: a warning that says how to raise the limit, then polling', async () => {
  const made: FSWatcher[] = [];
  const { root, w, warnings, all, until } = await watched({
    createWatcher: (path, options) => {
      const fsw = chokidarWatch(path, options);
      made.push(fsw);
      return fsw;
    },
  });
  try {
    assert.equal(made.length, 1);
    assert.equal(made[0].options.usePolling, false);
    // What chokidar reports when fs.watch() fails with the kernel's limit (we cannot lower it here).
    const err = Object.assign(new Error(`ENOSPC: System limit for number of file watchers reached, watch '${root}'`), { code: 'ENOSPC' });
    made[0].emit('error', err);
    made[0].emit('error', err); // one per failed path: still one warning
    await until('the polling watcher', () => made.length === 2 && made[1].options.usePolling === true);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /fs\.inotify\.max_user_watches=\d+/);
    assert.match(warnings[0], /polling/);

    await sleep(300); // let the polling watcher finish its first pass
    writeFileSync(join(root, 'polled.jpg'), JPG);
    await until('the add seen by polling', () => all('added').includes(join(root, 'polled.jpg')));
  } finally {
    await w.close();
  }
});

test('a root missing at start is reported gone, and watched once it appears', async () => {
  const root = join(dir, 'not-yet');
  const w = new FolderWatcher([root], FAST);
  const log: string[] = [];
  const added: string[] = [];
  w.on('rootGone', () => log.push('gone'));
  w.on('rootBack', () => log.push('back'));
  w.on('batch', (b) => added.push(...b.added));
  try {
    await w.ready();
    assert.deepEqual(log, ['gone']);
    mkdirSync(root);
    for (let i = 0; i < 200 && !log.includes('back'); i++) await sleep(25);
    assert.deepEqual(log, ['gone', 'back']);
    writeFileSync(join(root, 'first.jpg'), JPG);
    for (let i = 0; i < 200 && added.length === 0; i++) await sleep(25);
    assert.deepEqual(added, [join(root, 'first.jpg')]);
  } finally {
    await w.close();
  }
});
