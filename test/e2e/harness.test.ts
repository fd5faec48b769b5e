// The e2e harness itself, against a minimal page of its own (no renderer needed): in headless
// Chromium, window.photoAssistant reaches the real main-process service and its events come back;
// arguments are validated, unknown calls refused, media served by id under the app's CSP, and the
// real inference worker answers a chat streamed into the page.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { contentSecurityPolicy } from '../../electron/main/csp.ts';
import type { PhotoPage } from '../../src/shared/app-types.ts';
import type { IpcResult } from '../../src/shared/ipc-contract.ts';
import { PHOTOS } from '../helpers/fixtures.ts';
import { ARTIFACTS, type RunningApp, startApp } from './harness.ts';

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>harness page</title></head>
<body><pre id="out">loading</pre><script src="page.js"></script></body></html>`;
// No inline script: the CSP allows only the page's own files.
const PAGE_JS = `window.__events = [];
for (const e of ['library:changed', 'queue:status', 'stream:token', 'worker:status']) window.photoAssistant.on(e, (p) => window.__events.push([e, p]));
window.photoAssistant.getState().then((r) => { document.getElementById('out').textContent = JSON.stringify(r); });`;

type PageWindow = typeof globalThis & {
  photoAssistant: import('../../src/shared/ipc-contract.ts').PhotoAssistantBridge;
  __events: [string, unknown][];
  __paInvoke: (channel: string, arg: unknown) => Promise<IpcResult<unknown>>;
  __inlineRan?: boolean;
};

let staticDir: string;
before(async () => {
  staticDir = await mkdtemp(join(tmpdir(), 'pa-harness-page-'));
  await writeFile(join(staticDir, 'index.html'), PAGE_HTML);
  await writeFile(join(staticDir, 'page.js'), PAGE_JS);
});
after(() => rm(staticDir, { recursive: true, force: true }));

async function pollPage<T>(app: RunningApp, what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; page errors: ${app.pageErrors.join(' | ')}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('e2e harness (real main-process handlers behind a page in headless Chromium)', { timeout: 180_000 }, () => {
  let app: RunningApp;
  const photos = ['chelsea.jpg', 'coffee.jpg', 'camera_gray.png'].map((f) => join(PHOTOS, f));
  before(async () => {
    app = await startApp({ staticDir, photos });
  });
  after(() => app?.close());

  it('the page gets the real state through window.photoAssistant', async () => {
    const text = await pollPage(app, 'getState', async () => {
      const t = await app.page.locator('#out').textContent();
      return t && t !== 'loading' ? t : undefined;
    });
    const r = JSON.parse(text) as IpcResult<{ firstRun: boolean; folders: unknown[]; settings: { xmp: string }; worker: { state: string } }>;
    assert.ok(r.ok, text);
    assert.equal(r.data.firstRun, true);
    assert.deepEqual(r.data.folders, []);
    assert.equal(r.data.settings.xmp, 'sidecar');
    assert.equal(r.data.worker.state, 'stopped');
    assert.equal(existsSync(join(app.userDataDir, 'catalog.db')), true, 'the catalog is the real one in the temp user data folder');
  });

  it('pickDirectory + addFolder from the page; listPhotos returns the photos; events come back', async () => {
    const picked = await app.page.evaluate(() => (window as unknown as PageWindow).photoAssistant.pickDirectory({ title: 'Choose' }));
    assert.deepEqual(picked, { ok: true, data: { path: app.photoDir } });
    const added = await app.page.evaluate((path) => (window as unknown as PageWindow).photoAssistant.addFolder({ path }), app.photoDir);
    assert.ok(added.ok);
    const page = await pollPage(app, 'the scan', async () => {
      const r = await app.page.evaluate(() => (window as unknown as PageWindow).photoAssistant.listPhotos({ sort: 'name' }));
      return r.ok && r.data.total === 3 ? r.data : undefined;
    });
    assert.deepEqual((page as PhotoPage).items.map((p) => p.name), ['camera_gray.png', 'chelsea.jpg', 'coffee.jpg']);
    const events = await app.page.evaluate(() => (window as unknown as PageWindow).__events.map(([e]) => e));
    assert.ok(events.includes('library:changed'), events.join());
    // The bridge also works with no argument at all where every field has a default.
    const all = await app.page.evaluate(() => (window as unknown as PageWindow).photoAssistant.listPhotos());
    assert.ok(all.ok && all.data.total === 3);
  });

  it('invalid arguments and unknown calls come back as errors, as data', async () => {
    const r = await app.page.evaluate(async () => {
      const pa = (window as unknown as PageWindow).photoAssistant;
      const w = window as unknown as PageWindow;
      return {
        badLimit: await pa.listPhotos({ limit: 0 }),
        badType: await pa.getPhoto({ photoId: 'x' as unknown as number }),
        extraKey: await pa.setCaption({ photoId: 1, text: 'hi', path: '/etc/passwd' } as never),
        unknownPhoto: await pa.getPhoto({ photoId: 424242 }),
        unknownCall: await w.__paInvoke('pa:deleteEverything', {}),
        noGenericSend: typeof (pa as unknown as { send?: unknown }).send,
        unknownEvent: (() => { try { pa.on('nope' as never, () => {}); return 'subscribed'; } catch { return 'refused'; } })(),
        frozen: Object.isFrozen(pa),
      };
    });
    for (const k of ['badLimit', 'badType', 'extraKey', 'unknownPhoto', 'unknownCall'] as const) {
      const res = r[k];
      assert.equal(res.ok, false, k);
      assert.equal(!res.ok && res.error.code, 'invalid_argument', k);
    }
    assert.match(!r.badLimit.ok ? r.badLimit.error.message : '', /limit/);
    assert.equal(r.noGenericSend, 'undefined');
    assert.equal(r.unknownEvent, 'refused');
    assert.equal(r.frozen, true);
  });

  it('media by catalog id: a real thumbnail and photo load under the CSP; unknown ids 404', async () => {
    const list = await app.page.evaluate(() => (window as unknown as PageWindow).photoAssistant.listPhotos({ sort: 'name' }));
    assert.ok(list.ok);
    const chelsea = list.data.items.find((p) => p.name === 'chelsea.jpg')!;
    const img = await app.page.evaluate(async (id) => {
      const pa = (window as unknown as PageWindow).photoAssistant;
      const el = document.createElement('img');
      el.src = pa.mediaUrl('thumb', id);
      document.body.append(el);
      await el.decode();
      const photo = await fetch(pa.mediaUrl('photo', id));
      const missing = await fetch(pa.mediaUrl('thumb', 999_999));
      return {
        src: el.src, w: el.naturalWidth, h: el.naturalHeight,
        photoType: photo.headers.get('content-type'), photoBytes: (await photo.arrayBuffer()).byteLength, missing: missing.status,
      };
    }, chelsea.id);
    assert.equal(img.src, `${app.mediaBase}thumb/${chelsea.id}`);
    assert.ok(img.w > 0 && img.w <= 320 && img.h > 0, JSON.stringify(img));
    assert.equal(img.photoType, 'image/jpeg');
    assert.equal(img.photoBytes, 35042);
    assert.equal(img.missing, 404);
    await app.screenshot('harness-page');
    assert.ok(existsSync(join(ARTIFACTS, 'harness-page.png')));
  });

  it('serves the app\'s CSP: inline script does not run', async () => {
    const res = await app.page.goto(`${app.baseUrl}/index.html`);
    assert.equal(res?.headers()['content-security-policy'], contentSecurityPolicy(app.mediaBase));
    const ran = await app.page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.body.append(s);
      return (window as unknown as PageWindow).__inlineRan === true;
    });
    assert.equal(ran, false);
    assert.ok(app.pageErrors.some((e) => /Content Security Policy/i.test(e)), app.pageErrors.join(' | '));
  });
});

describe('e2e harness with the tiny model (real worker)', { timeout: 180_000 }, () => {
  let app: RunningApp;
  before(async () => {
    app = await startApp({ staticDir, photos: [join(PHOTOS, 'chelsea.jpg')], withModel: true, addFolder: true });
  });
  after(() => app?.close());

  it('captions the photo and streams a chat answer into the page', async () => {
    const photo = await pollPage(app, 'the caption', async () => {
      const r = await app.page.evaluate(() => (window as unknown as PageWindow).photoAssistant.listPhotos());
      return r.ok && r.data.items[0]?.status === 'done' ? r.data.items[0] : undefined;
    });
    assert.ok(photo.caption);
    const answer = await app.page.evaluate((photoId) => (window as unknown as PageWindow).photoAssistant.ask({
      chatId: 'page-chat', photoId, question: 'what is this?', options: { maxNewTokens: 5 },
    }), photo.id);
    assert.ok(answer.ok && !answer.data.cancelled);
    const tokens = await pollPage(app, 'the streamed tokens', async () => {
      const t = await app.page.evaluate(() => (window as unknown as PageWindow).__events
        .filter(([e, p]) => e === 'stream:token' && (p as { requestId: string }).requestId === 'page-chat')
        .map(([, p]) => (p as { text: string }).text));
      return t.length && t.at(-1) === (answer.ok ? answer.data.text : null) ? t : undefined;
    });
    assert.ok(tokens.length >= 1);
    // The queue may have finished before the page subscribed: pausing it is a queue:status event now.
    await app.page.evaluate(() => (window as unknown as PageWindow).photoAssistant.pauseQueue());
    await pollPage(app, 'a queue:status event', async () => {
      const kinds = await app.page.evaluate(() => (window as unknown as PageWindow).__events.map(([e]) => e));
      return kinds.includes('queue:status') || undefined;
    });
  });
});
