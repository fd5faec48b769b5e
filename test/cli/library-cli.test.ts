// index / status / export from the command line, and --watch picking up a new photo.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { PHOTOS, REPO_ROOT, fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';

let dir: string;
let photos: string;
let model: string;
before(async () => {
  dir = await makeTempDir();
  model = join(dir, 'model');
  await convertCheckpoint(fixturePath('opt'), model);
  photos = join(dir, 'photos');
  await mkdir(photos);
  for (const f of ['chelsea.jpg', 'coffee.jpg']) await cp(join(PHOTOS, f), join(photos, f));
});
after(() => rm(dir, { recursive: true, force: true }));

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('library CLI', () => {
  const db = () => join(dir, 'cat.db');

  it('index writes Lightroom-style sidecars; status and export json/csv/txt report the captions', async () => {
    const r = await runCli(['index', photos, '--db', db(), '--model', model, '--max-new-tokens', '5', '--sidecar-name', 'base']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 of 2 photo\(s\) captioned/);
    assert.ok(existsSync(join(photos, 'chelsea.xmp')) && !existsSync(join(photos, 'chelsea.jpg.xmp')));

    const status = await runCli(['status', '--db', db(), '--json']);
    const s = JSON.parse(status.stdout);
    assert.equal(s.captioned, 2);
    assert.equal(s.jobs.done, 2);

    const json = JSON.parse((await runCli(['export', '--db', db(), '--format', 'json'])).stdout);
    assert.equal(json.length, 2);
    for (const p of json) {
      assert.equal(p.captionProvenance, 'ai');
      assert.match(p.hash, /^[0-9a-f]{64}$/);
      assert.ok(readFileSync(p.paths[0].replace(/\.jpg$/, '.xmp'), 'utf8').includes(p.caption.replace(/&/g, '&amp;')));
    }
    const csv = (await runCli(['export', '--db', db(), '--format', 'csv'])).stdout.trim().split('\n');
    assert.equal(csv.length, 3);
    const txt = await runCli(['export', '--db', db(), '--format', 'txt']);
    assert.equal(txt.code, 0, txt.stderr);
    assert.equal(readFileSync(join(photos, 'chelsea.txt'), 'utf8').trim(), json.find((p: any) => p.paths[0].endsWith('chelsea.jpg')).caption);

    const bad = await runCli(['export', '--db', db(), '--format', 'xml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format must be json, csv or txt/);
  });

  it('--watch captions a photo copied in while it runs; Ctrl-C stops it cleanly', { timeout: 120_000 }, async () => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'src/cli/photo-assistant.mjs'), 'index', photos, '--db', db(), '--model', model, '--max-new-tokens', '5', '--watch'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    await waitFor(() => /watching for changes/.test(err), 60_000);
    await cp(join(PHOTOS, 'rocket.jpg'), join(photos, 'rocket.jpg'));
    await waitFor(() => existsSync(join(photos, 'rocket.jpg.xmp')), 30_000);
    child.kill('SIGINT');
    assert.equal(await closed, 0, err);
    const s = JSON.parse((await runCli(['status', '--db', db(), '--json'])).stdout);
    assert.equal(s.captioned, 3);
  });

  it('a one-shot index interrupted with SIGINT exits 130 and resumes on the next run', { timeout: 120_000 }, async () => {
    await cp(join(PHOTOS, 'astronaut.jpg'), join(photos, 'astronaut.jpg'));
    await cp(join(PHOTOS, 'hubble_deep_field.jpg'), join(photos, 'hubble.jpg'));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'src/cli/photo-assistant.mjs'), 'index', photos, '--db', db(), '--model', model, '--max-new-tokens', '5'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    await waitFor(() => /scanned/.test(err), 60_000);
    child.kill('SIGINT');
    const code = await closed;
    assert.ok(code === 130 || code === 0, `exit ${code}: ${err}`); // 0 if it had already finished
    const again = await runCli(['index', photos, '--db', db(), '--model', model, '--max-new-tokens', '5']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /5 of 5 photo\(s\) captioned/);
  });
});
