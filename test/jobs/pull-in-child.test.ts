// Pulls from a loopback Hub emulator in a real converter child (tsx-loaded convert-worker-main.ts)
// driven by pullInChild / planPullInChild: the plan's sizes, a pull with progress while this event
// loop keeps ticking, cancel mid-download (the work folder stays and the next pull resumes), a
// SIGKILLed child reported by name and resumed after, the token reaching a gated repo, and Hub
// errors arriving as their codes. Every request the emulator sees comes from the child.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type PullArgs, planPullInChild, pullInChild, forkConvertTransport } from '../../src/jobs/converter-host.ts';
import type { PullProgressMessage } from '../../src/jobs/convert-protocol.ts';
import type { Transport, TransportFactory } from '../../src/jobs/transport.ts';
import { verifyModel } from '../../src/models/model-store.ts';
import { fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { HubEmulator } from '../helpers/hub-emulator.ts';

const OPT = 'Salesforce/blip2-opt-2.7b';
const NAME = 'Salesforce--blip2-opt-2.7b-int4';
const TOKEN = 'hf_pull_in_child_token';

let dir: string;
let hub: HubEmulator;
const fork = forkConvertTransport();
const children: Transport[] = [];
const factory: TransportFactory = () => {
  const t = fork();
  children.push(t);
  return t;
};

function alive(pid: number | undefined): boolean {
  try {
    process.kill(pid!, 0);
    return true;
  } catch {
    return false;
  }
}

const args = (modelsDir: string, over: Partial<PullArgs> = {}): PullArgs => ({ ref: OPT, modelsDir, endpoint: hub.url, ...over });

before(async () => {
  dir = await makeTempDir();
  hub = await HubEmulator.start({
    tokens: [TOKEN],
    repos: [{ id: OPT, dir: fixturePath('opt') }, { id: 'test/gated-opt', dir: fixturePath('opt'), gated: true }],
  });
});

after(async () => {
  for (const t of children) t.kill('SIGKILL');
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('pulls in a converter child', { timeout: 120_000 }, () => {
  it('plans from the Hub: sizes of the download, on disk and in RAM', async () => {
    const plan = await planPullInChild(factory, args(join(dir, 'plan')));
    assert.equal(plan.repo, OPT);
    assert.match(plan.commit, /^[0-9a-f]{40}$/);
    assert.equal(plan.name, NAME);
    assert.equal(plan.preconverted, false);
    assert.equal(plan.downloadBytes, 10_648_200, 'the safetensors shard only');
    assert.ok(plan.diskBytes > 0 && plan.ramBytes > plan.diskBytes && plan.freeBytes > 0);
    assert.ok(!alive(children.at(-1)!.pid));
  });

  it('pulls with progress while this event loop keeps ticking; the model folder verifies', async () => {
    const modelsDir = join(dir, 'm1');
    const progress: PullProgressMessage[] = [];
    let last = Date.now();
    let maxGap = 0;
    const ticker = setInterval(() => {
      maxGap = Math.max(maxGap, Date.now() - last);
      last = Date.now();
    }, 20);
    hub.requests.length = 0;
    let r;
    try {
      r = await pullInChild(factory, args(modelsDir), { onProgress: (p) => progress.push(p) });
    } finally {
      clearInterval(ticker);
    }
    assert.ok(maxGap < 500, `the main loop stalled for ${maxGap} ms`);
    assert.equal(r.dir, join(modelsDir, NAME));
    assert.equal(r.kind, 'blip2-opt');
    assert.equal(r.weights, 'int4');
    assert.equal(r.repo, OPT);
    assert.equal(r.label, `${OPT}@${r.commit.slice(0, 7)} int4`);
    assert.equal(r.resumed, false);
    assert.equal(r.alreadyPresent, false);
    assert.ok(r.downloadedBytes >= 10_648_200);
    await verifyModel(r.dir);
    assert.equal(progress[0]?.stage, 'resolving');
    assert.ok(progress.some((p) => p.stage === 'downloading' && p.bytesDone > 0 && p.bytesTotal === 10_648_200));
    assert.equal(progress.at(-1)?.stage, 'done');
    assert.ok(hub.requests.length > 0);
    // Pulled again: present, nothing downloaded.
    const again = await pullInChild(factory, args(modelsDir));
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.downloadedBytes, 0);
  });

  it('cancel mid-download: cancelled, the work folder stays, the next pull resumes', async () => {
    const modelsDir = join(dir, 'm2');
    hub.faults.throttle(2_000_000);
    try {
      const ac = new AbortController();
      let at = 0;
      await assert.rejects(
        pullInChild(factory, args(modelsDir), {
          signal: ac.signal,
          onProgress: (p) => { if (p.stage === 'downloading' && p.bytesDone > 3_000_000 && !at) { at = p.bytesDone; ac.abort(); } },
        }),
        (err: unknown) => (err as { code?: string }).code === 'cancelled',
      );
      const child = children.at(-1)!;
      assert.ok(!alive(child.pid), 'the child is gone');
      assert.deepEqual(await readdir(modelsDir), [`.${NAME}.pull`]);
      hub.faults.reset();
      const r = await pullInChild(factory, args(modelsDir));
      assert.equal(r.resumed, true);
      assert.ok(r.downloadedBytes < 10_648_200, `resumed, not from the start (${r.downloadedBytes} bytes fetched again)`);
      await verifyModel(r.dir);
      assert.deepEqual(await readdir(modelsDir), [NAME]);
    } finally {
      hub.faults.reset();
    }
  });

  it('a SIGKILLed child is reported by name; the next pull resumes where it died', async () => {
    const modelsDir = join(dir, 'm3');
    hub.faults.throttle(2_000_000);
    try {
      let killed = false;
      await assert.rejects(
        pullInChild(factory, args(modelsDir), {
          onProgress: (p) => {
            if (killed || p.stage !== 'downloading' || p.bytesDone < 3_000_000) return;
            killed = true;
            process.kill(children.at(-1)!.pid!, 'SIGKILL');
          },
        }),
        (err: unknown) => {
          assert.equal((err as { code?: string }).code, 'inference_failed');
          assert.match((err as Error).message, /the download of Salesforce\/blip2-opt-2\.7b was killed \(signal SIGKILL\)/);
          return true;
        },
      );
      hub.faults.reset();
      const r = await pullInChild(factory, args(modelsDir));
      assert.equal(r.resumed, true);
      await verifyModel(r.dir);
    } finally {
      hub.faults.reset();
    }
  });

  it('the token reaches a gated repo; without it the answer is hub_auth_required; Hub errors keep their codes', async () => {
    const modelsDir = join(dir, 'm4');
    await assert.rejects(planPullInChild(factory, args(modelsDir, { ref: 'test/gated-opt' })), (err: unknown) => (err as { code?: string }).code === 'hub_auth_required');
    const plan = await planPullInChild(factory, args(modelsDir, { ref: 'test/gated-opt', token: TOKEN }));
    assert.equal(plan.repo, 'test/gated-opt');
    await assert.rejects(planPullInChild(factory, args(modelsDir, { ref: 'test/nothing-here' })), (err: unknown) => (err as { code?: string }).code === 'hub_not_found');
    await assert.rejects(planPullInChild(factory, args(modelsDir, { revision: 'no-such-branch' })), (err: unknown) => (err as { code?: string }).code === 'hub_not_found');
  });

  it('an aborted signal starts no child at all', async () => {
    const started = children.length;
    await assert.rejects(pullInChild(factory, args(join(dir, 'm5')), { signal: AbortSignal.abort() }), (err: unknown) => (err as { code?: string }).code === 'cancelled');
    assert.equal(children.length, started);
    assert.ok(!existsSync(join(dir, 'm5')));
  });
});
