// models pull against a loopback Hub emulator serving the fixture checkpoints: conversion while
// downloading gives exactly what a local conversion gives, only needed files are fetched, and every
// fault (dropped connection, wrong bytes, 429, gated repo, unknown repo/revision, unsupported model,
// no network, cancel, full disk) ends with a clear error and loses nothing.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { HubClient } from '../../src/hub/hub-client.ts';
import { listInstalled, verifyModel } from '../../src/models/model-store.ts';
import { planPull, pullModel } from '../../src/models/pull.ts';
import type { PullProgress } from '../../src/models/transfer-progress.ts';
import { Blip2Model } from '../../src/runtime/blip2/model.ts';
import { modelLabel } from '../../src/shared/model-manifest.ts';
import { fixturePath, makeTempDir, readF32, readJson } from '../helpers/fixtures.ts';
import { HubEmulator } from '../helpers/hub-emulator.ts';
import { binOnlyRepo, optRepo, shardedOptRepo, unsupportedRepo } from './hub-repos.ts';

const OPT = 'Salesforce/blip2-opt-2.7b';
const TOKEN = 'hf_test_token_123';

describe('models pull (loopback Hub emulator)', () => {
  let tmp: string;
  let hub: HubEmulator;
  let reference: Record<string, { sha256: string; bytes: number }>;

  before(async () => {
    tmp = await makeTempDir();
    hub = await HubEmulator.start({
      tokens: [TOKEN],
      repos: [
        { id: OPT, dir: await optRepo(join(tmp, 'repos/opt')) },
        { id: 'test/sharded-opt', dir: await shardedOptRepo(join(tmp, 'repos/sharded')) },
        { id: 'test/gated-opt', dir: join(tmp, 'repos/opt'), gated: true },
        { id: 'test/llava', dir: await unsupportedRepo(join(tmp, 'repos/llava')) },
        { id: 'test/bin-only', dir: await binOnlyRepo(join(tmp, 'repos/bin')) },
      ],
    });
    // What a local conversion of the same checkpoint gives: the pull must produce the same files.
    const local = await convertCheckpoint(fixturePath('opt'), join(tmp, 'local-int4'), { quant: 'int4' });
    reference = local.files;
  });
  after(async () => {
    await hub?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const client = (o: { token?: string } = {}) => new HubClient({ endpoint: hub.url, token: o.token, backoffMs: 10, retries: 4 });

  it('converts while downloading: the same graphs and weights as a local conversion, provenance repo@commit', async () => {
    const modelsDir = join(tmp, 'm1');
    const events: PullProgress[] = [];
    hub.requests.length = 0;
    const r = await pullModel(OPT, { hub: client(), modelsDir, quant: 'int4', onProgress: (p) => events.push(p) });
    assert.equal(r.alreadyPresent, false);
    assert.equal(r.manifest.source.repo, OPT);
    assert.match(r.manifest.source.commit ?? '', /^[0-9a-f]{40}$/);
    assert.equal(modelLabel(r.manifest, 'x'), `${OPT}@${r.manifest.source.commit!.slice(0, 7)} int4`);
    for (const [name, entry] of Object.entries(reference)) {
      if (name === 'model.json') continue;
      assert.deepEqual(r.manifest.files[name], entry, `${name} differs from the local conversion`);
    }
    await verifyModel(r.dir);
    // Only what the converter reads: never the .bin copy or the README.
    const fetched = hub.requests.map((q) => q.path);
    assert.ok(!fetched.some((p) => p.includes('pytorch_model.bin')), 'fetched the .bin weights');
    assert.ok(!fetched.some((p) => p.includes('README')), 'fetched the README');
    assert.ok(events.some((e) => e.stage === 'downloading' && e.bytesDone > 0 && e.bytesTotal > 0));
    assert.equal(events.at(-1)?.stage, 'done');
    // Nothing but the model folder is left behind.
    assert.deepEqual(await readdir(modelsDir), ['Salesforce--blip2-opt-2.7b-int4']);
    // A second pull of the same commit and quantization downloads nothing.
    const again = await pullModel(OPT, { hub: client(), modelsDir, quant: 'int4' });
    assert.equal(again.alreadyPresent, true);
    const installed = await listInstalled(modelsDir);
    assert.equal(installed[0].state, 'ready');
    assert.equal(installed[0].label, modelLabel(r.manifest, 'x'));
  });

  it('an fp32 pull captions exactly as Hugging Face does', async () => {
    const r = await pullModel(OPT, { hub: client(), modelsDir: join(tmp, 'm-fp32'), quant: 'fp32' });
    const golden = readJson('opt/golden.json');
    const c = golden.cases[0];
    const model = await Blip2Model.load(r.dir);
    try {
      const pixels = readF32(`pixel_values/${c.image.replace(/\.\w+$/, '')}.pixel_values.f32.bin`);
      const enc = await model.encodePixels(pixels);
      for (const p of golden.prompts as Array<{ name: string; input_ids: number[] }>) {
        const out = await model.generate(enc, p.input_ids, { maxNewTokens: 20, minNewTokens: 0 });
        assert.deepEqual([2, ...out.tokenIds], c.prompts[p.name].greedy.sequence, p.name);
      }
    } finally {
      await model.dispose();
    }
  });

  it('a sharded checkpoint streams shard by shard into the same model', async () => {
    const r = await pullModel('test/sharded-opt', { hub: client(), modelsDir: join(tmp, 'm-sharded'), quant: 'int4' });
    for (const [name, entry] of Object.entries(reference)) {
      if (name.endsWith('.data')) assert.deepEqual(r.manifest.files[name], entry, name);
    }
  });

  it('survives dropped connections and 429s (Range resume from the byte it had)', async () => {
    hub.faults.reset();
    hub.faults.failNext(2, 429, { retryAfter: 0, pathIncludes: 'model.safetensors' });
    hub.faults.dropAfter('cdn', 3_000_000, 2);
    const r = await pullModel(OPT, { hub: client(), modelsDir: join(tmp, 'm-drop'), quant: 'int4' });
    hub.faults.reset();
    assert.equal(r.manifest.files['decoder.onnx.data'].sha256, reference['decoder.onnx.data'].sha256);
    assert.ok(hub.requests.some((q) => q.range && q.range !== 'bytes=0-'), 'no Range request after the drop');
  });

  it('wrong bytes: integrity_failed naming the file, nothing installed, the next pull fetches it anew', async () => {
    const modelsDir = join(tmp, 'm-corrupt');
    hub.faults.reset();
    hub.faults.corrupt('cdn', 5_000_000);
    await assert.rejects(pullModel(OPT, { hub: client(), modelsDir, quant: 'int4' }), (e: any) => {
      assert.equal(e.code, 'integrity_failed');
      assert.match(e.message, /model\.safetensors/);
      return true;
    });
    hub.faults.reset();
    assert.ok(!existsSync(join(modelsDir, 'Salesforce--blip2-opt-2.7b-int4')), 'a corrupt download was installed');
    const r = await pullModel(OPT, { hub: client(), modelsDir, quant: 'int4' });
    assert.equal(r.manifest.files['decoder.onnx.data'].sha256, reference['decoder.onnx.data'].sha256);
  });

  it('cancel keeps the work; the next pull resumes and downloads only the rest', async () => {
    const modelsDir = join(tmp, 'm-cancel');
    hub.faults.reset();
    hub.faults.throttle(4_000_000);
    const controller = new AbortController();
    const p = pullModel(OPT, {
      hub: client(), modelsDir, quant: 'int4', signal: controller.signal,
      onProgress: (e) => { if (e.stage === 'downloading' && e.bytesDone > 5_000_000) controller.abort(); },
    });
    await assert.rejects(p, (e: any) => e.code === 'cancelled');
    hub.faults.reset();
    const listed = await listInstalled(modelsDir);
    assert.equal(listed[0]?.state, 'partial');
    const r = await pullModel(OPT, { hub: client(), modelsDir, quant: 'int4' });
    assert.equal(r.resumed, true);
    // It carries on from the last converted tensor (the one in flight is fetched again).
    const total = (await readFile(fixturePath('opt/model.safetensors'))).byteLength;
    assert.ok(r.downloadedBytes < total, `resumed pull downloaded ${r.downloadedBytes} of ${total}`);
    assert.ok(hub.requests.some((q) => /^bytes=[1-9]\d*-$/.test(q.range ?? '')), 'no Range request on resume');
    assert.equal(r.manifest.files['decoder.onnx.data'].sha256, reference['decoder.onnx.data'].sha256);
  });

  it('gated repos need a token; the error says how to give one', async () => {
    await assert.rejects(pullModel('test/gated-opt', { hub: client(), modelsDir: join(tmp, 'm-gated'), quant: 'int4' }), (e: any) => {
      assert.equal(e.code, 'hub_auth_required');
      assert.match(e.message, /HF_TOKEN/);
      return true;
    });
    const r = await pullModel('test/gated-opt', { hub: client({ token: TOKEN }), modelsDir: join(tmp, 'm-gated'), quant: 'int4' });
    assert.equal(r.manifest.source.repo, 'test/gated-opt');
  });

  it('bad input gets a clear error: unknown repo, missing revision, unsupported architecture, .bin only, no network', async () => {
    const modelsDir = join(tmp, 'm-bad');
    const code = async (p: Promise<unknown>, expected: string, text: RegExp) =>
      assert.rejects(p, (e: any) => { assert.equal(e.code, expected, e.message); assert.match(e.message, text); return true; });
    await code(pullModel('nobody/nothing', { hub: client(), modelsDir }), 'hub_not_found', /nobody\/nothing/);
    await code(pullModel(OPT, { hub: client(), modelsDir, revision: 'v9.9' }), 'hub_not_found', /v9\.9/);
    await code(pullModel('test/llava', { hub: client(), modelsDir }), 'checkpoint_unsupported', /llava.*supported/i);
    await code(pullModel('test/bin-only', { hub: client(), modelsDir }), 'checkpoint_unsupported', /\.bin/);
    const offline = new HubClient({ endpoint: 'http://127.0.0.1:9', retries: 2, backoffMs: 5 });
    await code(pullModel(OPT, { hub: offline, modelsDir }), 'network_error', /cannot reach/);
    assert.deepEqual((await listInstalled(modelsDir)).filter((m) => m.state !== 'partial'), []);
  });

  it('plans before downloading: download size, size on disk, RAM, free space', async () => {
    const plan = await planPull(OPT, { hub: client(), modelsDir: join(tmp, 'm-plan'), quant: 'int4' });
    const ckpt = (await readFile(fixturePath('opt/model.safetensors'))).byteLength;
    assert.equal(plan.downloadBytes, ckpt);
    const converted = Object.values(reference).reduce((a, f) => a + f.bytes, 0);
    assert.ok(plan.diskBytes >= converted, `planned ${plan.diskBytes} < actual ${converted}`);
    assert.ok(plan.ramBytes > plan.diskBytes);
    assert.ok(plan.freeBytes > 0);
  });
});
