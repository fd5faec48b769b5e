// The hard cases of models pull, with real processes and a real small disk: the CLI SIGKILLed at
// random moments resumes with Range requests and ends with exactly the model of an uninterrupted
// pull; a full disk (a small tmpfs) is refused up front with needed/free, and running out mid-way
// stops cleanly and resumes once space is back; a published converted model is fetched as is and
// checked against its manifest.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { HubClient } from '../../src/hub/hub-client.ts';
import { verifyModel } from '../../src/models/model-store.ts';
import { pullModel } from '../../src/models/pull.ts';
import { fixturePath, makeTempDir, REPO_ROOT } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';
import { HubEmulator } from '../helpers/hub-emulator.ts';
import { optRepo } from './hub-repos.ts';

const OPT = 'Salesforce/blip2-opt-2.7b';
const FOLDER = 'Salesforce--blip2-opt-2.7b-int4';

describe('models pull: kills, full disks, published models', () => {
  let tmp: string;
  let hub: HubEmulator;
  let reference: Record<string, { sha256: string; bytes: number }>;

  before(async () => {
    tmp = await makeTempDir();
    const local = await convertCheckpoint(fixturePath('opt'), join(tmp, 'published'), { quant: 'int4' });
    reference = local.files;
    hub = await HubEmulator.start({
      repos: [
        { id: OPT, dir: await optRepo(join(tmp, 'repos/opt')) },
        { id: 'test/published-int4', dir: join(tmp, 'published') },
      ],
    });
  });
  after(async () => {
    await hub?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const client = () => new HubClient({ endpoint: hub.url, backoffMs: 10, retries: 4 });
  const sameAsReference = (files: Record<string, { sha256: string; bytes: number }>) => {
    for (const [name, entry] of Object.entries(reference)) if (name !== 'model.json') assert.deepEqual(files[name], entry, name);
  };

  it('a CLI pull SIGKILLed at random moments resumes each time and ends identical to an uninterrupted pull', async () => {
    const modelsDir = join(tmp, 'killed');
    hub.faults.reset();
    hub.faults.throttle(3_000_000); // ~3.5 s for the 10.6 MB checkpoint
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const env = { HF_ENDPOINT: hub.url, PHOTO_ASSISTANT_MODELS: modelsDir };
    for (let kill = 0; kill < 3; kill++) {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'src/cli/photo-assistant.mjs'), 'models', 'pull', OPT, '--quant', 'int4', '--json'], {
        cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      // Wait for real progress, then kill at a random moment of the download.
      await new Promise<void>((resolve) => child.stdout.on('data', () => { if (/"downloading"/.test(out)) resolve(); }));
      await new Promise((r) => setTimeout(r, 200 + random() * 1200));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      assert.ok(!existsSync(join(modelsDir, FOLDER)), 'a killed pull left a model folder that looks ready');
    }
    const before = hub.requests.length;
    hub.faults.reset();
    const done = await runCli(['models', 'pull', OPT, '--quant', 'int4', '--json'], { env, timeoutMs: 120_000 });
    assert.equal(done.code, 0, done.stderr);
    const last = JSON.parse(done.stdout.trim().split('\n').at(-1)!);
    assert.equal(last.event, 'done');
    assert.equal(last.resumed, true);
    const resumedRanges = hub.requests.slice(before).filter((q) => q.range && q.range !== 'bytes=0-');
    assert.ok(resumedRanges.length > 0, 'the final run did not resume with a Range request');
    sameAsReference((await verifyModel(join(modelsDir, FOLDER))).files);
  });

  it('a disk too small is refused before anything is written, with needed and free bytes', async (t) => {
    const mnt = join(tmp, 'tiny-disk');
    await mkdir(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    t.after(() => execFileSync('umount', [mnt]));
    await assert.rejects(pullModel(OPT, { hub: client(), modelsDir: join(mnt, 'models'), quant: 'int4' }), (e: any) => {
      assert.equal(e.code, 'disk_full');
      assert.match(e.message, /needs [\d.]+ GB .* [\d.]+ GB is free/);
      return true;
    });
  });

  it('running out of disk mid-way stops with disk_full and resumes once space is back', async (t) => {
    const mnt = join(tmp, 'small-disk');
    await mkdir(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', mnt]);
    t.after(() => execFileSync('umount', [mnt]));
    const modelsDir = join(mnt, 'models');
    hub.faults.reset();
    hub.faults.throttle(4_000_000);
    let filled = false;
    await assert.rejects(pullModel(OPT, {
      hub: client(), modelsDir, quant: 'int4',
      onProgress: (p) => {
        if (!filled && p.stage === 'downloading' && p.bytesDone > 2_000_000) {
          filled = true; // another program fills the disk while we download
          const fs = statfsSync(mnt);
          execFileSync('fallocate', ['-l', String(fs.bavail * fs.bsize - 4096), join(mnt, 'filler')]);
        }
      },
    }), (e: any) => { assert.equal(e.code, 'disk_full', e.message); return true; });
    hub.faults.reset();
    await rm(join(mnt, 'filler'), { force: true });
    const r = await pullModel(OPT, { hub: client(), modelsDir, quant: 'int4' });
    assert.equal(r.resumed, true);
    sameAsReference(r.manifest.files);
  });

  it('a published converted model is downloaded as is and checked against its manifest', async () => {
    const modelsDir = join(tmp, 'published-pull');
    hub.faults.reset();
    hub.faults.corrupt('cdn', 10_000);
    await assert.rejects(pullModel('test/published-int4', { hub: client(), modelsDir }), (e: any) => {
      assert.equal(e.code, 'integrity_failed');
      assert.match(e.message, /test\/published-int4\//);
      return true;
    });
    hub.faults.reset();
    const r = await pullModel('test/published-int4', { hub: client(), modelsDir });
    sameAsReference(r.manifest.files);
    await verifyModel(r.dir);
    await writeFile(join(r.dir, 'decoder.onnx.data'), 'damaged');
    await assert.rejects(verifyModel(r.dir), (e: any) => e.code === 'model_invalid' && /pull/i.test(e.message));
  });
});
