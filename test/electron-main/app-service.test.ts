// The app's main-process service without a browser, through the real IPC dispatcher: a real catalog
// in a temp folder, the real chokidar watcher, the real inference worker (a child process) with the
// tiny converted fixture models, real photos. Covers the flow from a file dropped into a watched
// folder to a caption in the catalog and in its XMP sidecar, failures named in the queue status,
// streamed and cancelled chat, crash → restart → ready, pause/resume, edits, search, settings, media.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppService } from '../../electron/main/app-service.ts';
import { type Dispatch, createDispatcher } from '../../electron/main/ipc-handlers.ts';
import { mediaResponse } from '../../electron/main/media.ts';
import { forkConvertTransport } from '../../src/jobs/converter-host.ts';
import type { TransportFactory } from '../../src/jobs/transport.ts';
import type { EventMap, EventName } from '../../src/shared/ipc-contract.ts';
import type { ArgsOf, Channel, ResultMap } from '../../src/shared/ipc-contract.ts';
import { tinyModel } from '../e2e/fixture-models.ts';
import { PHOTOS, makeTempDir } from '../helpers/fixtures.ts';
import { Catalog } from '../../src/library/catalog/catalog.ts';

let dir: string;
let photoDir: string;
let userDataDir: string;
let service: AppService;
let dispatch: Dispatch;
const events: { [E in EventName]: EventMap[E][] } = {
  'library:changed': [], 'queue:status': [], 'worker:status': [], 'models:status': [], 'stream:token': [], 'convert:progress': [], 'pull:progress': [],
  problem: [], 'app:command': [],
};

async function call<C extends Channel>(channel: C, arg?: ArgsOf<C>): Promise<ResultMap[C]> {
  const r = await dispatch(`pa:${channel}`, arg);
  if (!r.ok) throw Object.assign(new Error(`${channel}: ${r.error.code}: ${r.error.message}`), { code: r.error.code });
  return r.data as ResultMap[C];
}

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The converter processes started (each conversion runs in its own child, never in this process). */
const converterPids: (number | undefined)[] = [];
const forkConverter = forkConvertTransport();
const convertTransport: TransportFactory = () => {
  const t = forkConverter();
  converterPids.push(t.pid);
  return t;
};

async function open(): Promise<void> {
  service = await AppService.open({ userDataDir, restartBackoffMs: 50, watcher: { stabilityMs: 200, debounceMs: 100 }, convertTransport, log: () => {} });
  dispatch = createDispatcher(service);
  for (const e of Object.keys(events) as EventName[]) service.on(e, (p) => void (events[e] as unknown[]).push(p));
}

const byName = async (name: string) => (await call('listPhotos', { limit: 100 })).items.find((p) => p.name === name);

before(async () => {
  dir = await makeTempDir();
  photoDir = join(dir, 'photos');
  userDataDir = join(dir, 'user-data');
  await mkdir(photoDir);
  for (const f of ['chelsea.jpg', 'coffee.jpg', 'camera_gray.png']) await cp(join(PHOTOS, f), join(photoDir, f));
  // Starts like a JPEG (so the scanner takes it), then garbage: a photo no decoder can read.
  await writeFile(join(photoDir, 'broken.jpg'), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(4000, 0x5a)]));
  await open();
});

after(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('AppService (main process, no browser)', { timeout: 240_000 }, () => {
  it('opens on first run: no folder, no model, no worker', async () => {
    const s = await call('getState');
    assert.equal(s.firstRun, true);
    assert.deepEqual(s.folders, []);
    assert.equal(s.worker.state, 'stopped');
    assert.equal(s.models.caption.state, 'none');
    assert.equal(s.settings.xmp, 'sidecar');
    assert.equal(s.settings.numBeams, 1);
    assert.equal(s.searchAvailable, false);
  });

  it('adds a folder, scans it in the background and sees a file dropped into it', async () => {
    const folder = await call('addFolder', { path: photoDir });
    assert.equal(folder.path, photoDir);
    await waitFor('the scan', async () => (await call('getState')).folders.every((f) => !f.scanning));
    const page = await call('listPhotos', { sort: 'name' });
    assert.deepEqual(page.items.map((p) => p.name), ['broken.jpg', 'camera_gray.png', 'chelsea.jpg', 'coffee.jpg']);
    assert.ok(page.items.every((p) => p.status === 'pending' && p.caption === null && !p.missing));
    assert.ok(events.problem.some((e) => e.code === 'photo_unreadable'), 'the broken photo is reported while scanning');

    const seen = events['library:changed'].length;
    await cp(join(PHOTOS, 'rocket.jpg'), join(photoDir, 'rocket.jpg'));
    await waitFor('the watcher to add rocket.jpg', () => byName('rocket.jpg'));
    assert.ok(events['library:changed'].length > seen);
    assert.equal((await call('getState')).folders[0].photos, 5);
  });

  it('loads the captioning model and captions every photo once, with XMP; a corrupt one fails by name', async () => {
    const status = await call('setModel', { role: 'caption', dir: await tinyModel('opt') });
    assert.equal(status.state, 'ready', JSON.stringify(status.error));
    assert.equal(status.architecture, 'Blip2ForConditionalGeneration');
    await waitFor('captions', async () => (await call('getState')).queue.pending === 0 && (await call('queueStatus')).current === null);
    const s = await call('getState');
    assert.equal(s.firstRun, false);
    assert.equal(s.worker.state, 'ready');
    assert.equal(s.counts.captioned, 4);
    assert.equal(s.queue.failed, 1);
    assert.equal(s.queue.recentErrors.length, 1);
    assert.equal(s.queue.recentErrors[0].path, join(photoDir, 'broken.jpg'));
    assert.equal(s.queue.recentErrors[0].error.code, 'photo_unreadable');
    assert.ok(s.queue.ratePerMinute && s.queue.ratePerMinute > 0);

    const chelsea = (await byName('chelsea.jpg'))!;
    assert.equal(chelsea.status, 'done');
    assert.equal(chelsea.captionProvenance, 'ai');
    const detail = await call('getPhoto', { photoId: chelsea.id });
    assert.equal(detail.captionHistory.length, 1, 'captioned exactly once');
    assert.equal(detail.captionHistory[0].modelId, 'opt:fp32');
    assert.equal(detail.metadata.sidecarPath, join(photoDir, 'chelsea.jpg.xmp'));
    assert.equal(detail.metadata.written, true);
    assert.ok(readFileSync(join(photoDir, 'chelsea.jpg.xmp'), 'utf8').includes('dc:description'));
    const broken = (await byName('broken.jpg'))!;
    assert.equal(broken.status, 'failed');
    assert.equal(broken.error?.code, 'photo_unreadable');
    assert.ok(events['queue:status'].some((q) => q.current?.task === 'caption'));
  });

  it('pause holds new photos back; resume captions them', async () => {
    const paused = await call('pauseQueue');
    assert.equal(paused.paused, true);
    await cp(join(PHOTOS, 'astronaut.jpg'), join(photoDir, 'astronaut.jpg'));
    const astronaut = await waitFor('astronaut.jpg', () => byName('astronaut.jpg'));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await byName('astronaut.jpg'))!.status, 'pending');
    assert.equal((await call('queueStatus')).pending, 1);
    assert.equal((await call('resumeQueue')).paused, false);
    await waitFor('the caption after resume', async () => (await call('getPhoto', { photoId: astronaut.id })).status === 'done');
  });

  it('chat streams the answer so far and cancel stops it with the partial text', async () => {
    const chelsea = (await byName('chelsea.jpg'))!;
    const answer = await call('ask', { chatId: 'chat-1', photoId: chelsea.id, question: 'what is in the photo?', options: { maxNewTokens: 6 } });
    const tokens = events['stream:token'].filter((t) => t.requestId === 'chat-1');
    assert.equal(answer.cancelled, false);
    assert.ok(tokens.length >= 1 && tokens.length <= 6);
    assert.equal(tokens.at(-1)!.text, answer.text, 'each event carries the whole text so far');

    const long = call('ask', {
      chatId: 'chat-2', photoId: chelsea.id, question: 'and then?', history: [{ question: 'what is in the photo?', answer: answer.text }],
      options: { maxNewTokens: 200, minNewTokens: 200 },
    });
    await waitFor('the first token', () => events['stream:token'].some((t) => t.requestId === 'chat-2'));
    assert.deepEqual(await call('cancel', { requestId: 'chat-2' }), { cancelled: true });
    const cut = await long;
    assert.equal(cut.cancelled, true);
    const streamed = events['stream:token'].filter((t) => t.requestId === 'chat-2');
    assert.ok(streamed.length < 200);
    assert.equal(cut.text, streamed.at(-1)!.text);
    assert.deepEqual(await call('cancel', { requestId: 'chat-2' }), { cancelled: false });
  });

  it('edits: a user caption, a regenerated AI caption with its options, accepting it, tags; XMP follows', async () => {
    const coffee = (await byName('coffee.jpg'))!;
    const sidecar = join(photoDir, 'coffee.jpg.xmp');
    let d = await call('setCaption', { photoId: coffee.id, text: 'My morning coffee' });
    assert.equal(d.caption, 'My morning coffee');
    assert.equal(d.captionProvenance, 'user');
    assert.ok(readFileSync(sidecar, 'utf8').includes('My morning coffee'));

    d = await call('regenerateCaption', { photoId: coffee.id, requestId: 'regen-1', options: { maxNewTokens: 4, prompt: 'a photo of' } });
    assert.ok(events['stream:token'].some((t) => t.requestId === 'regen-1'));
    assert.equal(d.caption, 'My morning coffee', 'an AI caption never replaces the user\'s');
    const ai = d.captionHistory.find((c) => c.provenance === 'ai' && c.prompt === 'a photo of');
    assert.ok(ai && !ai.isCurrent);

    d = await call('acceptCaption', { photoId: coffee.id });
    assert.equal(d.caption, ai.text);
    assert.equal(d.captionProvenance, 'user');
    assert.ok(d.captionHistory.length >= 4, 'history keeps every caption');

    d = await call('addTag', { photoId: coffee.id, label: 'Breakfast' });
    assert.deepEqual(d.tags.map((t) => [t.label, t.provenance, t.state]), [['Breakfast', 'user', 'accepted']]);
    assert.ok(readFileSync(sidecar, 'utf8').includes('Breakfast'));
    d = await call('rejectTag', { photoId: coffee.id, label: 'breakfast' });
    assert.deepEqual(d.tags.map((t) => [t.label, t.state]), [['Breakfast', 'rejected']], 'listed as rejected, so it can be restored');
    assert.ok(!readFileSync(sidecar, 'utf8').includes('Breakfast'), 'a rejected tag leaves the sidecar');
    assert.equal((await call('listPhotos', { filters: { hasTags: ['Breakfast'] } })).total, 0);
  });

  it('a worker killed mid-caption is restarted (restarting → ready) and the photo is captioned once', async () => {
    // Long captions, so that the kill most likely lands while the worker is generating.
    await call('updateSettings', { maxNewTokens: 200 });
    const pid = service.workerPid!;
    const queued = events['queue:status'].length;
    await cp(join(PHOTOS, 'coffee_exif_orientation6.jpg'), join(photoDir, 'turned.jpg'));
    await waitFor('turned.jpg to be captioned now', () => events['queue:status'].slice(queued).some((q) => q.current?.path.endsWith('turned.jpg')));
    const before = events['worker:status'].length;
    process.kill(pid, 'SIGKILL');
    await waitFor('ready again', () => events['worker:status'].slice(before).some((w) => w.state === 'ready'));
    const seq = events['worker:status'].slice(before);
    const restarting = seq.findIndex((w) => w.state === 'restarting');
    assert.ok(restarting >= 0 && restarting < seq.findIndex((w) => w.state === 'ready'), JSON.stringify(seq));
    assert.match(seq[restarting].message ?? '', /crashed \(SIGKILL\)/);
    const w = (await call('getState')).worker;
    assert.equal(w.state, 'ready');
    assert.equal(w.restarts, 1);
    assert.notEqual(w.pid, pid);

    const turned = (await byName('turned.jpg'))!;
    const detail = await waitFor('its caption', async () => {
      const d = await call('getPhoto', { photoId: turned.id });
      return d.status === 'done' && d;
    });
    assert.equal(detail.captionHistory.length, 1, 'captioned once');
    assert.ok(!(await call('queueStatus')).recentErrors.some((e) => e.photoId === turned.id), 'a retried crash is not a failure');
    await call('updateSettings', { maxNewTokens: 30 });
  });

  it('search: filter-only without the search model, semantic with it; embeddings and more-like-this', async () => {
    const chelsea = (await byName('chelsea.jpg'))!;
    const byCaption = await call('search', { query: chelsea.caption!.split(' ')[0] });
    assert.equal(byCaption.mode, 'filter');
    assert.ok(byCaption.items.some((i) => i.id === chelsea.id));

    const status = await call('setModel', { role: 'retrieval', dir: await tinyModel('itm') });
    assert.equal(status.state, 'ready', JSON.stringify(status.error));
    await waitFor('search', async () => (await call('getState')).searchAvailable);
    await waitFor('embeddings', async () => (await call('getPhoto', { photoId: chelsea.id })).hasEmbedding);
    await waitFor('the analysis pass', async () => (await call('queueStatus')).current === null && (await call('getPhoto', { photoId: (await byName('turned.jpg'))!.id })).hasEmbedding);
    assert.ok(events['queue:status'].some((q) => q.current?.task === 'analyze'));

    const r = await call('search', { query: 'a cat lying on a couch', limit: 3 });
    assert.equal(r.mode, 'semantic');
    assert.equal(r.items.length, 3);
    assert.ok(r.items.every((i, k) => k === 0 || r.items[k - 1].score >= i.score));
    const filtered = await call('search', { query: 'a cat', filters: { captioned: false } });
    assert.deepEqual(filtered.items, [], 'only the broken photo is uncaptioned, and it has no embedding');
    const similar = await call('moreLikeThis', { photoId: chelsea.id, limit: 10 });
    assert.equal(similar.mode, 'similar');
    assert.ok(similar.items.length >= 4 && similar.items.every((i) => i.id !== chelsea.id));
  });

  it('converts a checkpoint in a converter process with progress events; cancel stops a conversion', async () => {
    const out = join(dir, 'converted-itm');
    const children = converterPids.length;
    const r = await call('convertModel', { requestId: 'conv-1', checkpointDir: join(PHOTOS, '..', 'fixtures', 'hf-blip2', 'itm'), outDir: out, weights: 'fp32' });
    assert.equal(r.dir, out);
    assert.ok(existsSync(join(out, 'model.json')));
    assert.equal(converterPids.length, children + 1);
    assert.ok(converterPids.at(-1) && converterPids.at(-1) !== process.pid, 'converted in a child process');
    const progress = events['convert:progress'].filter((p) => p.requestId === 'conv-1');
    // The builder reads the shard front to back ('weights', per shard), then builds the graphs.
    assert.ok(progress.some((p) => p.stage === 'weights' && p.part === 'model.safetensors'), JSON.stringify(progress));
    assert.ok(progress.some((p) => p.stage === 'graph'), JSON.stringify(progress));
    assert.deepEqual(progress.at(-1), { requestId: 'conv-1', stage: 'done', done: true });
    const bad = await dispatch('pa:convertModel', { requestId: 'conv-2', checkpointDir: photoDir, outDir: join(dir, 'nothing') });
    assert.equal(bad.ok, false);
    assert.ok(events['convert:progress'].some((p) => p.requestId === 'conv-2' && p.done && p.error));

    const cancelledOut = join(dir, 'cancelled-opt');
    // Cancelled as soon as the weights start streaming (the tiny checkpoint converts in a fraction of a second).
    let cancelAnswer: Promise<ResultMap['cancel']> | undefined;
    const off = service.on('convert:progress', (p) => {
      if (p.requestId !== 'conv-3' || p.stage !== 'weights') return;
      off();
      cancelAnswer = call('cancel', { requestId: 'conv-3' });
    });
    const cancelled = await dispatch('pa:convertModel', { requestId: 'conv-3', checkpointDir: join(PHOTOS, '..', 'fixtures', 'hf-blip2', 'opt'), outDir: cancelledOut, weights: 'fp32' });
    assert.deepEqual(await cancelAnswer, { cancelled: true });
    assert.equal(!cancelled.ok && cancelled.error.code, 'cancelled');
    assert.equal(events['convert:progress'].filter((p) => p.requestId === 'conv-3').at(-1)?.error?.code, 'cancelled');
    assert.ok(!existsSync(cancelledOut));
    assert.deepEqual(await call('cancel', { requestId: 'conv-3' }), { cancelled: false });
  });

  it('answers errors as data: invalid arguments, unknown calls, unknown photos', async () => {
    const invalid = await dispatch('pa:listPhotos', { limit: 0 });
    assert.equal(invalid.ok, false);
    assert.equal(!invalid.ok && invalid.error.code, 'invalid_argument');
    const extra = await dispatch('pa:setCaption', { photoId: 1, text: 'x', evil: true });
    assert.equal(!extra.ok && extra.error.code, 'invalid_argument');
    const unknown = await dispatch('pa:deleteEverything', {});
    assert.equal(!unknown.ok && unknown.error.code, 'invalid_argument');
    const missing = await dispatch('pa:getPhoto', { photoId: 999_999 });
    assert.equal(!missing.ok && missing.error.code, 'invalid_argument');
    const relative = await dispatch('pa:addFolder', { path: 'photos' });
    assert.equal(!relative.ok && relative.error.code, 'invalid_argument');
    const badModel = await call('setModel', { role: 'caption', dir: photoDir });
    assert.equal(badModel.state, 'error');
    assert.equal(badModel.error?.code, 'model_missing');
    assert.equal((await call('setModel', { role: 'caption', dir: await tinyModel('itm') })).error?.code, 'model_invalid');
    assert.equal((await call('setModel', { role: 'caption', dir: await tinyModel('opt') })).state, 'ready');
  });

  it('serves thumbnails and photos by id, never by path', async () => {
    const chelsea = (await byName('chelsea.jpg'))!;
    const thumb = await mediaResponse(service, `http://127.0.0.1/media/thumb/${chelsea.id}`);
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get('content-type'), 'image/webp');
    assert.equal(Buffer.from(await thumb.arrayBuffer()).subarray(0, 4).toString('latin1'), 'RIFF');
    const photo = await mediaResponse(service, new URL(`pa-media://media/photo/${chelsea.id}`));
    assert.equal(photo.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual(Buffer.from(await photo.arrayBuffer()), readFileSync(join(PHOTOS, 'chelsea.jpg')));
    const png = await mediaResponse(service, `http://127.0.0.1/media/photo/${(await byName('camera_gray.png'))!.id}`);
    assert.equal(png.headers.get('content-type'), 'image/png');
    assert.equal((await mediaResponse(service, 'http://127.0.0.1/media/thumb/999999')).status, 404);
    assert.equal((await mediaResponse(service, 'http://127.0.0.1/media/thumb/abc')).status, 400);
    assert.equal((await mediaResponse(service, 'http://127.0.0.1/media/file/1')).status, 400);
    const broken = await mediaResponse(service, `http://127.0.0.1/media/thumb/${(await byName('broken.jpg'))!.id}`);
    assert.equal(broken.status, 422);
    assert.ok(!(await broken.text()).includes(photoDir), 'no path in an error');
  });

  it('keeps settings and the library across a restart; removing a folder hides its photos', async () => {
    const s = await call('updateSettings', { maxNewTokens: 12, sidecarNaming: 'base', pairPreference: 'raw' });
    assert.equal(s.maxNewTokens, 12);
    // The RAW+JPEG choice is kept in the catalog too, where the CLI's `index` reads it.
    const other = Catalog.open(join(userDataDir, 'catalog.db'));
    assert.equal(other.getSetting('pairPreference'), 'raw');
    other.close();
    assert.equal(JSON.parse(readFileSync(join(userDataDir, 'settings.json'), 'utf8')).sidecarNaming, 'base');
    await waitFor('sidecars in the new naming', () => existsSync(join(photoDir, 'chelsea.xmp')));

    await service.close();
    await open();
    const state = await call('getState');
    assert.equal(state.settings.maxNewTokens, 12);
    assert.equal(state.settings.pairPreference, 'raw');
    assert.equal(state.folders.length, 1);
    assert.equal(state.counts.captioned, 6);
    await waitFor('the models to load again', async () => (await call('getState')).models.caption.state === 'ready');

    assert.deepEqual(await call('removeFolder', { folderId: state.folders[0].id }), { removed: true });
    const after = await call('getState');
    assert.deepEqual(after.folders, []);
    assert.equal(after.counts.photos, 0);
    assert.equal(after.firstRun, true);
    assert.equal((await call('listPhotos')).total, 0);
  });
});
