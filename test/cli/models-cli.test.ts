// `photo-assistant models list | verify | remove` as a user runs them, over a pulled model folder.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { makeTempDir } from '../helpers/fixtures.ts';
import { HubEmulator } from '../helpers/hub-emulator.ts';
import { optRepo } from '../models/hub-repos.ts';

describe('photo-assistant models', () => {
  let tmp: string;
  let hub: HubEmulator;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    tmp = await makeTempDir();
    hub = await HubEmulator.start({ repos: [{ id: 'Salesforce/blip2-opt-2.7b', dir: await optRepo(join(tmp, 'repo')) }] });
    env = { HF_ENDPOINT: hub.url, PHOTO_ASSISTANT_MODELS: join(tmp, 'models') };
  });
  after(async () => {
    await hub.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('pull --dry-run says what it would cost without downloading weights', async () => {
    const r = await runCli(['models', 'pull', 'blip2-opt-2.7b', '--dry-run', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout.trim());
    assert.equal(plan.event, 'plan');
    assert.ok(plan.downloadBytes > 10_000_000 && plan.diskBytes > 0 && plan.ramBytes > plan.diskBytes);
    // Only the safetensors headers were read (ranged), never the weights themselves.
    const weights = hub.requests.filter((q) => q.path.includes('/cdn/') && q.path.endsWith('.safetensors'));
    assert.ok(weights.length > 0 && weights.every((q) => q.range && !/^bytes=\d+-$/.test(q.range)), JSON.stringify(weights.map((q) => q.range)));
    const list = JSON.parse((await runCli(['models', 'list', '--json'], { env })).stdout);
    assert.deepEqual(list.installed, [], 'a plan left something behind');
  });

  it('list shows the known models and the pulled one; verify checks it; remove deletes it', async () => {
    const pulled = await runCli(['models', 'pull', 'blip2-opt-2.7b', '--quant', 'int8'], { env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /Salesforce\/blip2-opt-2\.7b@[0-9a-f]{7} int8 ready in /);
    const list = await runCli(['models', 'list'], { env });
    assert.match(list.stdout, /blip2-itm\s+Salesforce\/blip2-itm-vit-g/);
    assert.match(list.stdout, /Salesforce--blip2-opt-2\.7b-int8 .* Salesforce\/blip2-opt-2\.7b@[0-9a-f]{7} int8/);
    const ok = await runCli(['models', 'verify', 'Salesforce--blip2-opt-2.7b-int8'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /all \d+ files match/);
    const dir = join(tmp, 'models', 'Salesforce--blip2-opt-2.7b-int8');
    const data = join(dir, 'vision.onnx.data');
    const bytes = Buffer.from(await (await import('node:fs/promises')).readFile(data));
    bytes[bytes.length - 1] ^= 0xff; // same size, different content: only a full check sees it
    await writeFile(data, bytes);
    const bad = await runCli(['models', 'verify', 'Salesforce--blip2-opt-2.7b-int8'], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /vision\.onnx\.data.*pull the model again/i);
    const removed = await runCli(['models', 'remove', 'Salesforce--blip2-opt-2.7b-int8'], { env });
    assert.equal(removed.code, 0, removed.stderr);
    const after = JSON.parse((await runCli(['models', 'list', '--json'], { env })).stdout);
    assert.deepEqual(after.installed, []);
    const unknown = await runCli(['models', 'pull', 'no-such-alias'], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown model "no-such-alias".*blip2-opt-2\.7b/);
  });
});
