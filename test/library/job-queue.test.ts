// The catalog's persistent job queue on a real catalog file: idempotent enqueue, claim/complete/fail/retry,
// recovery after a killed process, no double application, and several connections and processes
// claiming from the same WAL file without ever taking the same job.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import type { Folder } from '../../src/library/catalog/types.ts';
import type { JobQueue } from '../../src/library/catalog/jobs.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
let root: string;
before(async () => (root = await mkdtemp(join(tmpdir(), 'pa-jobs-'))));
after(() => rm(root, { recursive: true, force: true }));

let n = 0;
let cat: Catalog;
let q: JobQueue;
let dbFile: string;
let dir: string;
let folder: Folder;

beforeEach(() => {
  const base = join(root, `t${++n}`);
  dir = join(base, 'photos');
  mkdirSync(dir, { recursive: true });
  dbFile = join(base, 'catalog.db');
  let t = 1_700_000_000_000;
  cat = Catalog.open(dbFile, { now: () => t++ });
  q = cat.jobs;
  folder = cat.addFolder(dir);
});

function addPhoto(name: string): number {
  const path = join(dir, name);
  writeFileSync(path, name);
  return cat.recordFile({ path, folderId: folder.id, hash: `sha:${name}`, size: name.length, mtimeMs: 1 }).photoId;
}

describe('JobQueue', () => {
  it('enqueues idempotently and skips photos that already have a caption unless forced', () => {
    const a = addPhoto('a.jpg');
    const b = addPhoto('b.jpg');
    const j1 = q.enqueue(a, 'caption')!;
    assert.equal(q.enqueue(a, 'caption')!.id, j1.id);
    assert.equal(q.pendingCount(), 1);
    cat.setUserCaption(b, 'already described');
    assert.equal(q.enqueue(b, 'caption'), undefined);
    assert.equal(q.enqueue(b, 'caption', { force: true })!.state, 'pending');
    assert.deepEqual(q.counts(), { pending: 2, running: 0, done: 0, failed: 0 });
    assert.throws(() => q.enqueue(999, 'caption'), (e: any) => e.code === 'invalid_argument');
    assert.throws(() => q.enqueue(a, 'resize' as never), (e: any) => e.code === 'invalid_argument');
    // Tags and search vectors are backfilled from the embeddings table, never queued.
    assert.throws(() => q.enqueue(a, 'tags' as never), (e: any) => e.code === 'invalid_argument');
  });

  it('claims oldest first, counts attempts, and hands out a present path', () => {
    const a = addPhoto('a.jpg');
    const b = addPhoto('b.jpg');
    const ja = q.enqueue(a, 'caption')!;
    const jb = q.enqueue(b, 'caption')!;
    const c1 = q.claimNext('w1')!;
    assert.deepEqual([c1.id, c1.state, c1.attempts, c1.worker, c1.path], [ja.id, 'running', 1, 'w1', join(dir, 'a.jpg')]);
    assert.equal(q.claimNext('w2')!.id, jb.id);
    assert.equal(q.claimNext('w3'), undefined);
    assert.equal(q.enqueue(a, 'caption')!.id, ja.id, 'a running job also counts as queued');
    assert.deepEqual(q.counts(), { pending: 0, running: 2, done: 0, failed: 0 });
  });

  it('nextPaths names the files of the jobs claimNext takes next, in that order, claiming nothing', () => {
    const [a, b, c] = ['a.jpg', 'b.jpg', 'c.jpg'].map((f) => addPhoto(f));
    for (const p of [a, b, c]) q.enqueue(p, 'caption');
    cat.markFileMissing(join(dir, 'b.jpg'));
    assert.deepEqual(q.nextPaths(5, { kind: 'caption' }), [join(dir, 'a.jpg'), join(dir, 'c.jpg')]);
    assert.deepEqual(q.nextPaths(1), [join(dir, 'a.jpg')]);
    assert.deepEqual(q.nextPaths(0), []);
    assert.deepEqual(q.counts(), { pending: 3, running: 0, done: 0, failed: 0 });
    assert.equal(q.claimNext('w')!.path, join(dir, 'a.jpg'));
    assert.deepEqual(q.nextPaths(5), [join(dir, 'c.jpg')]);
  });

  it('leaves jobs of offline or missing photos waiting', () => {
    const a = addPhoto('a.jpg');
    const b = addPhoto('b.jpg');
    q.enqueue(a, 'caption');
    q.enqueue(b, 'caption');
    cat.setFolderStatus(folder.id, 'offline');
    assert.equal(q.claimNext('w'), undefined);
    cat.setFolderStatus(folder.id, 'online');
    cat.confirmFile(join(dir, 'a.jpg'));
    cat.confirmFile(join(dir, 'b.jpg'));
    cat.markFileMissing(join(dir, 'a.jpg'));
    assert.equal(q.claimNext('w', { kind: 'caption' })!.photoId, b);
    assert.equal(q.claimNext('w'), undefined);
    assert.equal(q.pendingCount(), 1);
  });

  it('completes by applying the result and marking done in one transaction, exactly once', () => {
    const a = addPhoto('a.jpg');
    const job = q.enqueue(a, 'caption')!;
    q.claimNext('w1');
    let applied = 0;
    const apply = () => {
      applied++;
      cat.addAiCaption(a, { text: 'a sunset', modelId: 'blip2' });
    };
    assert.equal(q.complete(job.id, apply), true);
    assert.equal(q.complete(job.id, apply), false, 'already done: nothing applied again');
    assert.equal(applied, 1);
    assert.equal(cat.captionHistory(a).length, 1);
    assert.equal(q.job(job.id)!.state, 'done');
    assert.equal(q.enqueue(a, 'caption'), undefined, 'captioned now');
    assert.equal(q.fail(job.id, { code: 'inference_failed', message: 'late' }), undefined, 'a late failure changes nothing');
    assert.equal(q.job(job.id)!.state, 'done');
  });

  it('rolls the result back when apply throws, so the failure can be recorded cleanly', () => {
    const a = addPhoto('a.jpg');
    const job = q.enqueue(a, 'caption')!;
    q.claimNext('w1');
    assert.throws(() => q.complete(job.id, () => {
      cat.addAiCaption(a, { text: 'half written', modelId: 'm' });
      throw new Error('disk full');
    }), /disk full/);
    assert.equal(cat.captionHistory(a).length, 0);
    assert.equal(q.job(job.id)!.state, 'running');
    assert.equal(q.fail(job.id, { code: 'io_error', message: 'disk full' }), 'pending');
  });

  it('retries until max attempts, then fails with the error and the photo path', () => {
    const a = addPhoto('a.jpg');
    const b = addPhoto('b.jpg');
    const job = q.enqueue(a, 'caption', { maxAttempts: 2 })!;
    q.enqueue(b, 'caption');
    assert.equal(q.claimNext('w')!.id, job.id);
    assert.equal(q.fail(job.id, { code: 'inference_failed', message: 'out of memory' }), 'pending');
    assert.notEqual(q.claimNext('w')!.id, job.id, 'a retried job waits behind fresh ones');
    const again = q.claimNext('w')!;
    assert.deepEqual([again.id, again.attempts], [job.id, 2]);
    assert.equal(q.fail(job.id, { code: 'inference_failed', message: 'out of memory again' }), 'failed');
    assert.deepEqual(q.job(job.id)!.lastError, { code: 'inference_failed', message: 'out of memory again' });
    assert.deepEqual(q.failedJobs().map((f) => [f.jobId, f.path, f.error.code, f.error.message, f.attempts]), [
      [job.id, join(dir, 'a.jpg'), 'inference_failed', 'out of memory again', 2],
    ]);
    // A failed job is not re-queued by a rescan, only on purpose.
    assert.equal(q.enqueue(a, 'caption'), undefined);
    assert.equal(q.retryFailed(), 1);
    const retried = q.job(job.id)!;
    assert.deepEqual([retried.state, retried.attempts], ['pending', 0]);
  });

  it('fails at once when a retry cannot help, and release does not count an attempt', () => {
    const a = addPhoto('a.jpg');
    const b = addPhoto('b.jpg');
    const ja = q.enqueue(a, 'caption')!;
    q.claimNext('w');
    assert.equal(q.fail(ja.id, { code: 'photo_unreadable', message: 'not an image' }, { retry: false }), 'failed');
    assert.equal(q.enqueue(a, 'caption'), undefined, 'a job that failed for good is not queued again unasked');
    assert.equal(q.enqueue(a, 'caption', { force: true })!.id, ja.id, 'forcing revives the same row');
    const jb = q.enqueue(b, 'caption')!;
    q.claimNext('w');
    q.claimNext('w');
    assert.equal(q.release(jb.id), true);
    assert.deepEqual([q.job(jb.id)!.state, q.job(jb.id)!.attempts], ['pending', 0]);
    assert.equal(q.release(jb.id), false);
  });

  it('recovers jobs a killed process left running, and fails the ones that keep crashing', () => {
    const a = addPhoto('a.jpg');
    const b = addPhoto('b.jpg');
    const ja = q.enqueue(a, 'caption')!;
    const jb = q.enqueue(b, 'caption', { maxAttempts: 1 })!;
    q.claimNext('dead-worker');
    q.claimNext('dead-worker');
    cat.close(); // the process dies; the rows stay 'running'

    const cat2 = Catalog.open(dbFile);
    const q2 = cat2.jobs;
    assert.equal(q2.recoverInterrupted(), 2);
    assert.deepEqual([q2.job(ja.id)!.state, q2.job(ja.id)!.worker], ['pending', null]);
    assert.equal(q2.job(jb.id)!.state, 'failed');
    assert.match(q2.job(jb.id)!.lastError!.message, /interrupted/);
    // The old worker was not dead after all: its late completion must not apply over the new one's.
    const c = q2.claimNext('new-worker')!;
    assert.equal(q2.complete(c.id, () => cat2.addAiCaption(a, { text: 'stale', modelId: 'm' }), { worker: 'dead-worker' }), false);
    assert.equal(q2.complete(c.id, () => cat2.addAiCaption(a, { text: 'fresh', modelId: 'm' }), { worker: 'new-worker' }), true);
    assert.deepEqual(cat2.captionHistory(a).map((x) => x.text), ['fresh']);
    assert.equal(cat2.integrityCheck(), 'ok');
    cat2.close();
  });

  it('never gives the same job to two connections on the same file', () => {
    const ids = Array.from({ length: 20 }, (_, i) => q.enqueue(addPhoto(`p${i}.jpg`), 'caption')!.id);
    const other = Catalog.open(dbFile);
    const queues = [q, other.jobs];
    const claimed: number[] = [];
    for (let i = 0; ; i++) {
      const job = queues[i % 2].claimNext(`w${i % 2}`);
      if (!job) break;
      claimed.push(job.id);
    }
    assert.deepEqual([...claimed].sort((x, y) => x - y), ids);
    assert.equal(other.jobs.counts().running, 20);
    other.close();
  });

  it('never gives the same job to two processes working the same file', async () => {
    const N = 300;
    const photos = Array.from({ length: N }, (_, i) => addPhoto(`p${i}.jpg`));
    cat.transaction(() => photos.forEach((p) => q.enqueue(p, 'caption')));
    cat.close();
    const script = join(root, `worker-${n}.mts`); // .mts: the temp dir has no package.json saying "module"
    writeFileSync(script, `
      import { Catalog } from ${JSON.stringify(join(REPO, 'src/library/catalog/catalog.ts'))};
      const cat = Catalog.open(process.argv[2]);
      const q = cat.jobs;
      // Start together: without this barrier the first child to boot drains the queue alone.
      process.stdout.write('ready\\n');
      await new Promise((go) => process.stdin.once('data', go));
      const done = [];
      for (let job; (job = q.claimNext(process.argv[3])); ) {
        // A job takes time (inference): without it, one child can drain 300 jobs before the others run.
        await new Promise((r) => setTimeout(r, 3));
        if (q.complete(job.id, () => cat.addAiCaption(job.photoId, { text: 'by ' + process.argv[3], modelId: 'm' }))) done.push(job.id);
      }
      cat.close();
      process.stdout.write(JSON.stringify(done));
      process.exit(0);
    `);
    const children = ['a', 'b', 'c'].map((w) => runChild(script, [dbFile, w]));
    const results = Promise.all(children.map((c) => c.result)); // observed now, so an early crash is reported
    await Promise.race([Promise.all(children.map((c) => c.ready)), results]);
    for (const c of children) c.go();
    const outputs = await results;
    const perWorker = outputs.map((o) => JSON.parse(o) as number[]);
    const done = perWorker.flat();
    assert.equal(done.length, N);
    assert.equal(new Set(done).size, N, 'no job completed twice');
    assert.ok(perWorker.filter((d) => d.length > 0).length >= 2, `the processes really competed: ${perWorker.map((d) => d.length)}`);
    cat = Catalog.open(dbFile);
    q = cat.jobs;
    assert.deepEqual(q.counts(), { pending: 0, running: 0, done: N, failed: 0 });
    for (const p of photos) assert.equal(cat.captionHistory(p).length, 1);
    assert.equal(cat.integrityCheck(), 'ok');
  });
});

/** Starts a worker process; `ready` resolves once it has opened the catalog, `go` lets it run. */
function runChild(script: string, args: string[]): { ready: Promise<void>; go: () => void; result: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.on('data', (d) => {
    out += d;
    if (out.startsWith('ready\n')) markReady();
  });
  child.stderr.on('data', (d) => (err += d));
  child.stdin.on('error', () => {}); // EPIPE from a child that already died; its exit reports why
  const result = new Promise<string>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      markReady(); // a child that died before 'ready' must not hang the test
      if (code === 0) resolvePromise(out.replace(/^ready\n/, ''));
      else reject(new Error(`worker exited ${code}: ${err}`));
    });
  });
  return { ready, go: () => child.stdin.end('go\n'), result };
}
