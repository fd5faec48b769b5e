// The app's model calls (Settings → Models, the first-run download) through the real IPC dispatcher
// and AppService, without a browser: the known and installed models read from disk only, the models
// folder and Hub address in the settings, the Hub token kept encrypted (a SecretBox stand-in typed
// against the real interface) and never answered back, verify and remove. Downloads from a loopback
// Hub emulator, in converter children: plan, pull with progress, cancel, resume, the model set up.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppService } from '../../electron/main/app-service.ts';
import type { SecretBox } from '../../electron/main/hub-token.ts';
import { type Dispatch, createDispatcher } from '../../electron/main/ipc-handlers.ts';
import { HUB_ENDPOINT } from '../../electron/main/model-service.ts';
import { DEFAULT_ENDPOINT } from '../../src/hub/hub-client.ts';
import type { PullProgressEvent } from '../../src/shared/app-types.ts';
import type { ArgsOf, Channel, IpcResult, ResultMap } from '../../src/shared/ipc-contract.ts';
import { tinyModel } from '../e2e/fixture-models.ts';
import { fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { HubEmulator } from '../helpers/hub-emulator.ts';

const TOKEN = 'hf_model_service_test_token';

/** Typed against the real interface: reversible, never the plain text on disk. */
const secrets = {
  available: async () => true,
  encrypt: async (plain: string) => new TextEncoder().encode(`sealed:${Buffer.from(plain).toString('base64')}`),
  decrypt: async (sealed: Uint8Array) => Buffer.from(new TextDecoder().decode(sealed).replace(/^sealed:/, ''), 'base64').toString('utf8'),
} satisfies SecretBox;

interface Opened { service: AppService; dispatch: Dispatch; userDataDir: string; answers: string[] }

let dir: string;
const opened: AppService[] = [];

async function open(name: string, opts: { secrets?: SecretBox; env?: NodeJS.ProcessEnv; settings?: object } = {}): Promise<Opened> {
  const userDataDir = join(dir, name);
  await mkdir(userDataDir, { recursive: true });
  if (opts.settings) await writeFile(join(userDataDir, 'settings.json'), JSON.stringify(opts.settings));
  const service = await AppService.open({ userDataDir, secrets: opts.secrets, env: opts.env ?? {}, log: () => {}, restartBackoffMs: 50 });
  opened.push(service);
  const raw = createDispatcher(service);
  const answers: string[] = [];
  // Every answer and event the window would see, to check the token never appears in any.
  const dispatch: Dispatch = async (channel, arg) => {
    const r = await raw(channel, arg);
    answers.push(JSON.stringify(r));
    return r;
  };
  service.on('pull:progress', (p) => answers.push(JSON.stringify(p)));
  return { service, dispatch, userDataDir, answers };
}

async function call<C extends Channel>(o: Opened, channel: C, arg?: ArgsOf<C>): Promise<ResultMap[C]> {
  const r = (await o.dispatch(channel, arg)) as IpcResult<ResultMap[C]>;
  if (!r.ok) throw Object.assign(new Error(`${channel}: ${r.error.code}: ${r.error.message}`), { code: r.error.code });
  return r.data;
}

async function failure<C extends Channel>(o: Opened, channel: C, arg?: ArgsOf<C>): Promise<{ code: string; message: string }> {
  const r = await o.dispatch(channel, arg);
  assert.equal(r.ok, false, `${channel} should fail`);
  return (r as { error: { code: string; message: string } }).error;
}

async function waitFor<T>(what: string, probe: () => T | Promise<T>, ms = 60_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  dir = await makeTempDir();
});

after(async () => {
  for (const s of opened) await s.close();
  await rm(dir, { recursive: true, force: true });
});

describe('model calls without the Hub', { timeout: 120_000 }, () => {
  it('lists the known models and the defaults without contacting anything', async () => {
    const o = await open('defaults', { secrets });
    const v = await call(o, 'listModels');
    assert.equal(v.modelsDir, join(o.userDataDir, 'models'));
    assert.equal(v.hubEndpoint, 'https://huggingface.co');
    assert.equal(HUB_ENDPOINT, DEFAULT_ENDPOINT, 'main names the same Hub as the Hub client');
    assert.equal(v.tokenSet, false);
    assert.equal(v.tokenStorage, true);
    assert.deepEqual(v.installed, []);
    assert.equal(v.activeDownload, null);
    const recommended = v.known.filter((k) => k.recommended).map((k) => [k.repo, k.role, k.status]);
    assert.deepEqual(recommended, [['Salesforce/blip2-opt-2.7b', 'caption', 'available'], ['Salesforce/blip2-itm-vit-g', 'retrieval', 'available']]);
    // Flan-T5 runs now: it is offered as a captioning model.
    assert.deepEqual(v.known.filter((k) => k.repo.includes('flan-t5')).map((k) => [k.role, k.usable]), [['caption', true], ['caption', true]]);
  });

  it('the Hub address comes from the settings, else $HF_ENDPOINT; the models folder from the settings', async () => {
    const o = await open('endpoint', { env: { HF_ENDPOINT: 'https://mirror.example/' } });
    assert.equal((await call(o, 'listModels')).hubEndpoint, 'https://mirror.example');
    await call(o, 'updateSettings', { hubEndpoint: 'http://127.0.0.1:9/hub' });
    assert.equal((await call(o, 'listModels')).hubEndpoint, 'http://127.0.0.1:9/hub');
    assert.equal((await failure(o, 'updateSettings', { hubEndpoint: 'ftp://x' })).code, 'invalid_argument');
    await call(o, 'updateSettings', { hubEndpoint: null });
    assert.equal((await call(o, 'listModels')).hubEndpoint, 'https://mirror.example');

    assert.equal((await failure(o, 'updateSettings', { modelsDir: 'relative/models' })).code, 'invalid_argument');
    const elsewhere = join(dir, 'elsewhere-models');
    const s = await call(o, 'updateSettings', { modelsDir: elsewhere });
    assert.equal(s.modelsDir, elsewhere);
    assert.equal((await call(o, 'listModels')).modelsDir, elsewhere);
    // Kept across a restart.
    assert.equal(JSON.parse(readFileSync(join(o.userDataDir, 'settings.json'), 'utf8')).modelsDir, elsewhere);
  });

  it('keeps the token encrypted and only ever says whether one is set', async () => {
    const o = await open('token', { secrets });
    assert.equal((await failure(o, 'setHubToken', { token: 'not-a-token' })).code, 'invalid_argument');
    assert.deepEqual(await call(o, 'setHubToken', { token: TOKEN }), { tokenSet: true });
    const file = join(o.userDataDir, 'hub-token.bin');
    assert.ok(existsSync(file));
    assert.ok(!(await readFile(file)).toString('latin1').includes(TOKEN), 'the token is not on disk in plain text');
    assert.equal((await call(o, 'listModels')).tokenSet, true);
    await call(o, 'getState');
    assert.ok(!o.answers.some((a) => a.includes(TOKEN)), 'no answer carries the token');
    assert.deepEqual(await call(o, 'setHubToken', { token: null }), { tokenSet: false });
    assert.ok(!existsSync(file));
  });

  it('refuses to store a token where nothing can encrypt it', async () => {
    const none = await open('no-secrets');
    assert.equal((await call(none, 'listModels')).tokenStorage, false);
    const e = await failure(none, 'setHubToken', { token: TOKEN });
    assert.equal(e.code, 'io_error');
    assert.match(e.message, /keyring/);
    assert.ok(!existsSync(join(none.userDataDir, 'hub-token.bin')));
    const noKeyring = await open('no-keyring', { secrets: { ...secrets, available: async () => false } satisfies SecretBox });
    assert.equal((await failure(noKeyring, 'setHubToken', { token: TOKEN })).code, 'io_error');
  });

  it('verifies and removes installed models; removing the one in use unsets it first', async () => {
    const userDataDir = join(dir, 'installed');
    const modelsDir = join(userDataDir, 'models');
    const name = 'Salesforce--blip2-opt-2.7b-int4';
    await mkdir(modelsDir, { recursive: true });
    await cp(await tinyModel('opt'), join(modelsDir, name), { recursive: true });
    // An unfinished download beside it.
    await mkdir(join(modelsDir, '.Salesforce--blip2-itm-vit-g-int8.pull'), { recursive: true });
    const o = await open('installed', { settings: { captionModelDir: join(modelsDir, name) } });
    const v = await call(o, 'listModels');
    assert.deepEqual(v.installed.map((m) => [m.name, m.state, m.inUse]), [
      ['Salesforce--blip2-itm-vit-g-int8', 'partial', null], [name, 'ready', 'caption'],
    ]);
    assert.equal(v.known.find((k) => k.alias === 'blip2-itm')?.status, 'partial', 'the unfinished download can be resumed');
    assert.deepEqual(await call(o, 'verifyModel', { name }), { name, ok: true });
    assert.equal((await failure(o, 'verifyModel', { name: 'Salesforce--blip2-itm-vit-g-int8' })).code, 'invalid_argument');
    assert.equal((await failure(o, 'verifyModel', { name: '../etc' })).code, 'invalid_argument');
    assert.equal((await failure(o, 'verifyModel', { name: 'nothing-here' })).code, 'model_missing');

    // One flipped byte: an answer naming the file, not a failure of the call.
    const manifest = JSON.parse(readFileSync(join(modelsDir, name, 'model.json'), 'utf8')) as { files: Record<string, unknown> };
    const victim = Object.keys(manifest.files).find((f) => f.endsWith('.data')) ?? Object.keys(manifest.files)[0];
    const bytes = await readFile(join(modelsDir, name, victim));
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(join(modelsDir, name, victim), bytes);
    const bad = await call(o, 'verifyModel', { name });
    assert.equal(bad.ok, false);
    assert.match(bad.error?.message ?? '', new RegExp(victim.replace(/\./g, '\\.')));

    assert.deepEqual(await call(o, 'removeModel', { name }), { removed: join(modelsDir, name) });
    assert.equal((await call(o, 'getState')).settings.captionModelDir, null, 'the removed model is no longer set up');
    await call(o, 'removeModel', { name: 'Salesforce--blip2-itm-vit-g-int8' });
    assert.deepEqual(await readdir(modelsDir), []);
  });

  it('refuses a known model for the other role and bad refs, before any download', async () => {
    const o = await open('refusals', { settings: { hubEndpoint: 'http://127.0.0.1:9' } });
    const wrongRole = await failure(o, 'pullModels', { requestId: 'r1', models: [{ ref: 'blip2-itm', role: 'caption' }] });
    assert.equal(wrongRole.code, 'invalid_argument');
    assert.match(wrongRole.message, /retrieval/);
    assert.equal((await failure(o, 'planModelDownload', { requestId: 'r2', models: [{ ref: 'no-such-alias', role: 'caption' }] })).code, 'invalid_argument');
    assert.equal((await failure(o, 'pullModels', { requestId: 'r3', models: [{ ref: 'a/b', role: 'caption' }, { ref: 'c/d', role: 'caption' }] })).code, 'invalid_argument');
    assert.equal((await failure(o, 'pullModels', { requestId: 'r4', models: [{ ref: '../../etc', role: 'caption' }] })).code, 'invalid_argument');
  });
});

describe('downloads from a loopback Hub, in converter children', { timeout: 180_000 }, () => {
  const OPT = 'Salesforce/blip2-opt-2.7b';
  const ITM = 'Salesforce/blip2-itm-vit-g';
  const GATED = 'test/gated-opt';
  let hub: HubEmulator;

  before(async () => {
    hub = await HubEmulator.start({
      tokens: [TOKEN],
      repos: [
        { id: OPT, dir: fixturePath('opt') },
        { id: ITM, dir: fixturePath('itm') },
        { id: GATED, dir: fixturePath('opt'), gated: true },
      ],
    });
  });
  after(async () => {
    await hub?.close();
  });

  it('plans both models, then pulls both and sets each up for its role', async () => {
    const o = await open('both', { secrets, settings: { hubEndpoint: hub.url } });
    const models = [{ ref: 'blip2-opt-2.7b', role: 'caption' as const }, { ref: 'blip2-itm', role: 'retrieval' as const }];
    hub.requests.length = 0;
    assert.deepEqual((await call(o, 'listModels')).known.filter((k) => k.recommended).map((k) => k.status), ['available', 'available']);
    assert.equal(hub.requests.length, 0, 'listing never contacts the Hub');
    const plan = await call(o, 'planModelDownload', { requestId: 'plan-1', models });
    assert.deepEqual(plan.models.map((m) => [m.repo, m.role, m.name]), [[OPT, 'caption', 'Salesforce--blip2-opt-2.7b-int4'], [ITM, 'retrieval', 'Salesforce--blip2-itm-vit-g-int8']]);
    assert.equal(plan.downloadBytes, plan.models[0].downloadBytes + plan.models[1].downloadBytes);
    assert.equal(plan.modelsDir, join(o.userDataDir, 'models'));
    assert.ok(plan.freeBytes > 0 && plan.ramBytes >= plan.models[0].ramBytes);

    const events: PullProgressEvent[] = [];
    o.service.on('pull:progress', (p) => events.push(p));
    const r = await call(o, 'pullModels', { requestId: 'pull-1', models });
    assert.deepEqual(r.models.map((m) => [m.repo, m.role, m.alreadyPresent]), [[OPT, 'caption', false], [ITM, 'retrieval', false]]);
    assert.match(r.models[0].label, /^Salesforce\/blip2-opt-2\.7b@[0-9a-f]{7} int4$/);
    const s = (await call(o, 'getState')).settings;
    assert.equal(s.captionModelDir, r.models[0].dir);
    assert.equal(s.retrievalModelDir, r.models[1].dir);
    await waitFor('both models loaded', async () => {
      const m = (await call(o, 'getState')).models;
      return m.caption.state === 'ready' && m.retrieval.state === 'ready';
    });
    assert.deepEqual(events.filter((e) => e.outcome).map((e) => [e.index, e.count, e.role, e.outcome]), [[0, 2, 'caption', 'done'], [1, 2, 'retrieval', 'done']]);
    assert.ok(events.some((e) => e.stage === 'downloading' && e.index === 1 && e.bytesDone > 0));
    const v = await call(o, 'listModels');
    assert.deepEqual(v.installed.map((m) => [m.state, m.inUse]), [['ready', 'retrieval'], ['ready', 'caption']]);
    assert.deepEqual(v.known.filter((k) => k.recommended).map((k) => k.status), ['installed', 'installed']);
    assert.ok(hub.requests.every((q) => !q.auth), 'no token set, none sent');
    // Again: both present, nothing downloaded.
    const again = await call(o, 'pullModels', { requestId: 'pull-2', models });
    assert.deepEqual(again.models.map((m) => [m.alreadyPresent, m.downloadedBytes]), [[true, 0], [true, 0]]);
  });

  it('cancel stops the download (one at a time), the same call again resumes it', async () => {
    const o = await open('cancel', { settings: { hubEndpoint: hub.url } });
    const models = [{ ref: OPT, role: 'caption' as const }];
    hub.faults.throttle(2_000_000);
    try {
      const events: PullProgressEvent[] = [];
      o.service.on('pull:progress', (p) => events.push(p));
      const first = o.dispatch('pullModels', { requestId: 'dl-1', models });
      await waitFor('bytes arriving', () => events.some((e) => e.requestId === 'dl-1' && e.stage === 'downloading' && e.bytesDone > 1_000_000));
      assert.deepEqual((await call(o, 'listModels')).activeDownload, { requestId: 'dl-1', refs: [OPT] });
      assert.equal((await failure(o, 'pullModels', { requestId: 'dl-x', models })).code, 'invalid_argument', 'one download at a time');
      assert.deepEqual(await call(o, 'cancel', { requestId: 'dl-1' }), { cancelled: true });
      const r = await first;
      assert.equal(!r.ok && r.error.code, 'cancelled');
      assert.equal((await call(o, 'listModels')).activeDownload, null);
      assert.equal((await call(o, 'getState')).settings.captionModelDir, null, 'nothing set up after a cancel');
      const partial = (await call(o, 'listModels')).installed;
      assert.deepEqual(partial.map((m) => m.state), ['partial']);
      hub.faults.reset();
      const done = await call(o, 'pullModels', { requestId: 'dl-2', models });
      assert.equal(done.models[0].resumed, true);
      assert.equal((await call(o, 'getState')).settings.captionModelDir, done.models[0].dir);
    } finally {
      hub.faults.reset();
    }
  });

  it('the stored token reaches a gated repo, and only the converter process sends it', async () => {
    const o = await open('gated', { secrets, settings: { hubEndpoint: hub.url } });
    const models = [{ ref: GATED, role: 'caption' as const }];
    const denied = await failure(o, 'planModelDownload', { requestId: 'g-1', models });
    assert.equal(denied.code, 'hub_auth_required');
    assert.match(denied.message, /token/);
    await call(o, 'setHubToken', { token: TOKEN });
    hub.requests.length = 0;
    const plan = await call(o, 'planModelDownload', { requestId: 'g-2', models });
    assert.equal(plan.models[0].repo, GATED);
    assert.ok(hub.requests.length > 0 && hub.requests.every((q) => q.auth), 'every request carried the token');
    assert.ok(!o.answers.some((a) => a.includes(TOKEN)), 'no answer or event carries the token');
  });
});
