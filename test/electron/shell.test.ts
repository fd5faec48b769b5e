// The Electron shell's own logic, in Node: the shell modules are loaded through tsx's CommonJS hook
// with a stand-in 'electron' module (Electron cannot run here, and node_modules/electron would try
// to download its binary when required). Checked: app:// serves only renderer files with the CSP;
// IPC is honoured only from our window's top frame on our origin (a gone or detached frame is
// refused); navigation, popups and webviews are refused; the session denies every permission but
// our page's clipboard write; pa-media:// serves only our page, and the URL the preload builds is
// the one media.ts parses; the preload exposes the contract and unsubscribes its listeners; the
// window shows itself even when its page fails to load; every contract channel is registered and
// events reach only our window; the utility-process transport maps spawn, logs, exit and kill as
// InferenceHost expects; the menu hides reload and DevTools outside development.
// The shell's types stay out of the root project (no Electron types there), hence the local shapes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { WorkerExit } from '../../src/jobs/transport.ts';
import { CHANNELS, ipcChannel } from '../../src/shared/ipc-contract.ts';

// ---- the stand-in electron module -------------------------------------------------------------

type Listener = (...args: unknown[]) => unknown;

class FakeWebContents extends EventEmitter {
  openHandler: (() => unknown) | undefined;
  sent: [string, unknown][] = [];
  destroyed = false;
  constructor(readonly owner: FakeWindow | null) {
    super();
  }
  setWindowOpenHandler(h: () => unknown): void {
    this.openHandler = h;
  }
  send(channel: string, payload: unknown): void {
    this.sent.push([channel, payload]);
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
}

class FakeWindow {
  destroyed = false;
  readonly webContents: FakeWebContents = new FakeWebContents(this);
  isDestroyed(): boolean {
    return this.destroyed;
  }
}

class FakeUtilityProcess extends EventEmitter {
  pid: number | undefined = undefined;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  posted: unknown[] = [];
  kills = 0;
  constructor(readonly entry: string, readonly args: string[], readonly options: Record<string, unknown>) {
    super();
  }
  postMessage(m: unknown): void {
    this.posted.push(m);
  }
  kill(): boolean {
    this.kills++;
    return true;
  }
  spawned(pid: number): void {
    this.pid = pid;
    this.emit('spawn');
  }
  exited(code: number): void {
    this.pid = undefined;
    this.emit('exit', code);
  }
}

/** What createMainWindow constructs: records its options, loads as told by `nextLoad`. */
class FakeBrowserWindow extends EventEmitter {
  static nextLoad: Promise<void> = Promise.resolve();
  static last: FakeBrowserWindow | undefined;
  static fromWebContents(wc: FakeWebContents): FakeWindow | null {
    return wc.owner;
  }
  readonly webContents = new FakeWebContents(null);
  visible = false;
  loaded: string[] = [];
  constructor(readonly options: { show?: boolean; webPreferences?: Record<string, unknown> }) {
    super();
    FakeBrowserWindow.last = this;
  }
  loadURL(url: string): Promise<void> {
    this.loaded.push(url);
    return FakeBrowserWindow.nextLoad;
  }
  show(): void {
    this.visible = true;
  }
  isVisible(): boolean {
    return this.visible;
  }
  isDestroyed(): boolean {
    return false;
  }
}

class FakeIpcRenderer extends EventEmitter {
  invoked: [string, unknown][] = [];
  invoke(channel: string, arg: unknown): Promise<unknown> {
    this.invoked.push([channel, arg]);
    return Promise.resolve({ ok: true, data: channel });
  }
}

const ipcHandlers = new Map<string, Listener>();
const forks: FakeUtilityProcess[] = [];
let forkThrows = false;
const exposed = new Map<string, unknown>();
const ipcRenderer = new FakeIpcRenderer();
const fakeElectron = {
  app: { on: () => {}, getName: () => 'Photo Assistant' },
  protocol: { handle: () => {}, registerSchemesAsPrivileged: () => {} },
  nativeTheme: { themeSource: 'system', shouldUseDarkColors: false },
  BrowserWindow: FakeBrowserWindow,
  contextBridge: { exposeInMainWorld: (name: string, api: unknown) => exposed.set(name, api) },
  ipcRenderer,
  ipcMain: {
    handle: (channel: string, h: Listener) => {
      assert.ok(!ipcHandlers.has(channel), `${channel} registered once`);
      ipcHandlers.set(channel, h);
    },
    removeHandler: (channel: string) => ipcHandlers.delete(channel),
  },
  utilityProcess: {
    fork: (entry: string, args: string[], options: Record<string, unknown>) => {
      if (forkThrows) throw new Error('no such entry');
      const p = new FakeUtilityProcess(entry, args, options);
      forks.push(p);
      return p;
    },
  },
  Menu: { buildFromTemplate: (template: unknown) => template },
};

const moduleInternals = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
const realLoad = moduleInternals._load;
moduleInternals._load = function (request: string, ...rest: unknown[]) {
  return request === 'electron' ? fakeElectron : realLoad.call(this, request, ...rest);
};
after(() => {
  moduleInternals._load = realLoad;
});

// tsx (loaded with --import) compiles the required .ts files to CommonJS, so 'electron' goes through _load.
const load = createRequire(import.meta.url);

interface FakeFrame { parent: unknown; url: string; detached: boolean; isDestroyed(): boolean }
interface TrustEvent { sender: FakeWebContents; senderFrame: FakeFrame | null }
type Handler = (...args: unknown[]) => unknown;
const security = load('../../electron/main/security.ts') as {
  isAppUrl(url: string): boolean;
  isTrustedSender(event: TrustEvent, win: FakeWindow | null): boolean;
  hardenWebContents(contents: FakeWebContents): void;
  hardenSession(ses: unknown): void;
  mediaRequestRefusal(request: Request): Response | null;
  CONTENT_SECURITY_POLICY: string;
  MEDIA_BASE: string;
};
const windowModule = load('../../electron/main/window.ts') as {
  rendererResponse(dir: string, request: Request): Promise<Response>;
  createMainWindow(options: { preload: string; dev: boolean; onLoadError?: (m: string) => void }): FakeBrowserWindow;
};
const mediaModule = load('../../electron/main/media.ts') as {
  mediaResponse(service: { photoFile(id: number): { path: string }; thumbnailFile(id: number): Promise<string> }, url: string): Promise<Response>;
};
const ipcRegister = load('../../electron/main/ipc-register.ts') as {
  registerIpc(dispatch: (channel: string, raw: unknown) => Promise<unknown>, getWindow: () => FakeWindow | null): () => void;
  forwardEvents(service: { on(event: string, l: (p: unknown) => void): () => void }, getWindow: () => FakeWindow | null): () => void;
};
const transportModule = load('../../electron/main/utility-transport.ts') as {
  utilityTransport(entry: string, options?: { log?: (line: string) => void }): () => {
    readonly pid: number | undefined;
    send(m: unknown): boolean;
    onMessage(l: (m: unknown) => void): void;
    onExit(l: (e: WorkerExit) => void): void;
    kill(signal?: NodeJS.Signals): void;
  };
  WORKER_SERVICE_NAME: string;
};
interface MenuItem { label?: string; role?: string; submenu?: MenuItem[]; click?: () => void }
const menuModule = load('../../electron/main/menu.ts') as {
  buildAppMenu(actions: Record<'addFolder' | 'openSettings' | 'showAbout' | 'showPrivacy' | 'showLogs', () => void>, o: { dev: boolean; appName: string }): MenuItem[];
};

const frame = (url: string, more: Partial<FakeFrame> = {}): FakeFrame => ({ parent: null, url, detached: false, isDestroyed: () => false, ...more });
const trusted = (win: FakeWindow, url = 'app://renderer/index.html'): TrustEvent => ({
  sender: win.webContents,
  senderFrame: frame(url),
});
/** A Request as Electron's protocol.handle passes it, with the initiating origin when a page made it. */
const protocolRequest = (url: string, initiatorOrigin?: string, method = 'GET'): Request =>
  Object.assign(new Request(url, { method }), initiatorOrigin === undefined ? {} : { initiatorOrigin });

// ---- tests ------------------------------------------------------------------------------------

describe('app:// renderer protocol', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pa-renderer-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(dir, 'assets', 'app.js'), 'console.log(1)');
    for (const f of ['app.css', 'icon.svg', 'font.woff2', 'logo.jpeg']) await writeFile(join(dir, 'assets', f), 'x');
    await writeFile(join(dir, '..', 'pa-secret.txt'), 'secret');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(join(dir, '..', 'pa-secret.txt'), { force: true });
  });
  const get = (url: string, method = 'GET') => windowModule.rendererResponse(dir, new Request(url, { method }));

  it('serves the renderer with its type and the CSP', async () => {
    const index = await get('app://renderer/');
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(index.headers.get('content-security-policy'), security.CONTENT_SECURITY_POLICY);
    assert.equal(await index.text(), '<!doctype html><title>t</title>');
    const js = await get('app://renderer/assets/app.js');
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8', 'module scripts need a JavaScript MIME type');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(js.headers.get('content-security-policy'), security.CONTENT_SECURITY_POLICY);
    for (const [file, type] of [['app.css', 'text/css; charset=utf-8'], ['icon.svg', 'image/svg+xml'], ['font.woff2', 'font/woff2'], ['logo.jpeg', 'image/jpeg']]) {
      assert.equal((await get(`app://renderer/assets/${file}`)).headers.get('content-type'), type, file);
    }
    const head = await get('app://renderer/index.html', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('serves nothing outside renderer/dist, on another host, or for other methods', async () => {
    for (const url of [
      'app://renderer/../pa-secret.txt', 'app://renderer/%2e%2e/pa-secret.txt', 'app://renderer/..%2fpa-secret.txt',
      'app://renderer/assets/..%2f..%2fpa-secret.txt', 'app://other/index.html', 'app://renderer/missing.js', 'app://renderer/assets/',
    ]) {
      assert.equal((await get(url)).status, 404, url);
    }
    assert.equal((await get('app://renderer/index.html', 'POST')).status, 405);
  });

  it('keeps a CSP without inline or remote scripts and with photos only from pa-media:', () => {
    const csp = security.CONTENT_SECURITY_POLICY;
    assert.match(csp, /(^|; )script-src 'self'(;|$)/);
    assert.match(csp, /img-src 'self' pa-media: data:/);
    assert.match(csp, /object-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-eval|https?:|\*/);
  });
});

describe('IPC sender check', () => {
  const win = new FakeWindow();

  it('accepts only the top frame of our window on app://renderer', () => {
    assert.equal(security.isTrustedSender(trusted(win), win), true);
    assert.equal(security.isTrustedSender(trusted(new FakeWindow()), win), false, 'another window');
    assert.equal(security.isTrustedSender({ sender: new FakeWebContents(null), senderFrame: frame('app://renderer/') }, win), false, 'no window');
    // Another webContents of our window (DevTools' own, for one) is not our page.
    assert.equal(security.isTrustedSender({ sender: new FakeWebContents(win), senderFrame: frame('app://renderer/') }, win), false, 'another webContents');
    assert.equal(security.isTrustedSender({ sender: win.webContents, senderFrame: frame('app://renderer/', { parent: {} }) }, win), false, 'a subframe');
    assert.equal(security.isTrustedSender({ sender: win.webContents, senderFrame: null }, win), false, 'a gone frame (navigated or destroyed)');
    assert.equal(security.isTrustedSender({ sender: win.webContents, senderFrame: frame('app://renderer/', { detached: true }) }, win), false, 'a detached frame');
    assert.equal(security.isTrustedSender({ sender: win.webContents, senderFrame: frame('app://renderer/', { isDestroyed: () => true }) }, win), false, 'a destroyed frame');
    const disposed = { ...frame('app://renderer/'), get url(): string { throw new Error('Render frame was disposed'); } };
    assert.equal(security.isTrustedSender({ sender: win.webContents, senderFrame: disposed }, win), false, 'a frame that throws on access');
    const gone = new FakeWindow();
    gone.webContents.destroyed = true;
    assert.equal(security.isTrustedSender(trusted(gone), gone), false, 'a destroyed webContents');
    for (const url of ['file:///index.html', 'https://renderer/', 'app://evil/index.html', 'pa-media://media/thumb/1', 'not a url']) {
      assert.equal(security.isTrustedSender(trusted(win, url), win), false, url);
    }
    assert.equal(security.isTrustedSender(trusted(win), null), false, 'before the window exists');
    const closed = new FakeWindow();
    closed.destroyed = true;
    assert.equal(security.isTrustedSender(trusted(closed), closed), false, 'a destroyed window');
  });
});

describe('webContents guards', () => {
  it('prevents navigation, redirects and webviews, and denies new windows', () => {
    const wc = new FakeWebContents(null);
    security.hardenWebContents(wc);
    for (const event of ['will-navigate', 'will-frame-navigate', 'will-redirect', 'will-attach-webview']) {
      let prevented = false;
      wc.emit(event, { preventDefault: () => (prevented = true), url: 'https://example.com/', isMainFrame: true });
      assert.ok(prevented, event);
    }
    assert.deepEqual(wc.openHandler?.(), { action: 'deny' });
  });
});

describe('session hardening', () => {
  type Details = { requestingUrl?: string; isMainFrame: boolean };
  const handlers: Record<string, Handler> = {};
  const ses = {
    webRequest: {
      onHeadersReceived: (h: Handler) => (handlers.headers = h),
      onBeforeRequest: (filter: { urls: string[] }, h: Handler) => {
        assert.deepEqual(filter.urls, ['*://*/*']);
        handlers.beforeRequest = h;
      },
    },
    setPermissionRequestHandler: (h: Handler) => (handlers.request = h),
    setPermissionCheckHandler: (h: Handler) => (handlers.check = h),
    setDevicePermissionHandler: (h: Handler) => (handlers.device = h),
    on: (event: string, h: Handler) => (handlers[event] = h),
  };
  security.hardenSession(ses);

  it('denies every permission but a clipboard write by our top frame', () => {
    const request = (permission: string, details: Details): boolean => {
      let granted: boolean | undefined;
      handlers.request!({}, permission, (g: boolean) => (granted = g), details);
      assert.notEqual(granted, undefined, `${permission}: the request is answered`);
      return granted!;
    };
    const ours: Details = { requestingUrl: 'app://renderer/index.html', isMainFrame: true };
    assert.equal(request('clipboard-sanitized-write', ours), true);
    assert.equal(handlers.check!({}, 'clipboard-sanitized-write', 'app://renderer', { isMainFrame: true }), true, 'the check, by origin');
    assert.equal(request('clipboard-sanitized-write', { ...ours, isMainFrame: false }), false, 'a subframe');
    assert.equal(request('clipboard-sanitized-write', { requestingUrl: 'https://example.com/', isMainFrame: true }), false, 'another origin');
    for (const p of ['clipboard-read', 'media', 'geolocation', 'notifications', 'openExternal', 'fileSystem', 'fullscreen']) {
      assert.equal(request(p, ours), false, p);
      assert.equal(handlers.check!({}, p, 'app://renderer', { requestingUrl: 'app://renderer/', isMainFrame: true }), false, p);
    }
    assert.equal(handlers.device!({}), false);
  });

  it('puts one CSP on every response, cancels web requests and downloads', () => {
    let answer: { responseHeaders?: Record<string, string[]> } | undefined;
    handlers.headers!({ url: 'app://renderer/index.html', responseHeaders: { 'content-security-policy': ['default-src *'], 'Content-Type': ['text/html'] } }, (r: typeof answer) => (answer = r));
    assert.deepEqual(answer?.responseHeaders, {
      'Content-Type': ['text/html'],
      'Content-Security-Policy': [security.CONTENT_SECURITY_POLICY],
      'X-Content-Type-Options': ['nosniff'],
    }, 'a looser policy from the response is replaced, not added to');
    handlers.headers!({ url: 'devtools://devtools/bundled/x.html', responseHeaders: {} }, (r: typeof answer) => (answer = r));
    assert.deepEqual(answer, {});
    let cancelled: unknown;
    handlers.beforeRequest!({ url: 'https://example.com/' }, (r: { cancel: boolean }) => (cancelled = r.cancel));
    assert.equal(cancelled, true);
    let prevented = false;
    handlers['will-download']!({ preventDefault: () => (prevented = true) });
    assert.ok(prevented);
  });
});

describe('pa-media:// requests', () => {
  it('are served only to our page, only GET/HEAD, only on the media host', () => {
    assert.equal(security.MEDIA_BASE, 'pa-media://media/');
    assert.equal(security.mediaRequestRefusal(protocolRequest('pa-media://media/thumb/12', 'app://renderer')), null);
    assert.equal(security.mediaRequestRefusal(protocolRequest('pa-media://media/photo/12')), null, 'browser-initiated (no initiator)');
    assert.equal(security.mediaRequestRefusal(protocolRequest('pa-media://media/photo/12', 'app://renderer', 'HEAD')), null);
    for (const origin of ['https://example.com', 'null', 'app://evil', 'pa-media://media', 'file://']) {
      assert.equal(security.mediaRequestRefusal(protocolRequest('pa-media://media/thumb/12', origin))?.status, 403, origin);
    }
    assert.equal(security.mediaRequestRefusal(protocolRequest('pa-media://media/thumb/12', 'app://renderer', 'POST'))?.status, 405);
    for (const url of ['pa-media://elsewhere/thumb/12', 'pa-media://media/x/thumb/12', 'pa-media://media/thumb/abc', 'pa-media://media/original/12', 'pa-media://media/']) {
      assert.equal(security.mediaRequestRefusal(protocolRequest(url, 'app://renderer'))?.status, 404, url);
    }
  });
});

describe('preload bridge', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pa-preload-'));
    load('../../electron/preload.ts');
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const bridge = () => exposed.get('photoAssistant') as {
    getPhoto(arg: unknown): Promise<unknown>;
    on(event: string, l: (p: unknown) => void): () => void;
    mediaUrl(kind: 'thumb' | 'photo', id: number): string;
  };

  it('exposes only photoAssistant, whose calls invoke the contract channels', async () => {
    assert.deepEqual([...exposed.keys()], ['photoAssistant']);
    const api = bridge();
    assert.deepEqual(Object.keys(api).sort(), [...CHANNELS, 'mediaUrl', 'on'].sort());
    assert.deepEqual(await api.getPhoto({ photoId: 3 }), { ok: true, data: 'pa:getPhoto' });
    assert.deepEqual(ipcRenderer.invoked.at(-1), ['pa:getPhoto', { photoId: 3 }]);
  });

  it('passes event payloads without the IpcRendererEvent, and unsubscribes', () => {
    const got: unknown[][] = [];
    const off = bridge().on('queue:status', (...args) => got.push(args));
    assert.equal(ipcRenderer.listenerCount('pa-event:queue:status'), 1);
    ipcRenderer.emit('pa-event:queue:status', { sender: 'secret' }, { paused: true });
    assert.deepEqual(got, [[{ paused: true }]]);
    off();
    assert.equal(ipcRenderer.listenerCount('pa-event:queue:status'), 0);
    assert.throws(() => bridge().on('no-such-event', () => {}), /unknown event/);
  });

  it("builds the media URL that the protocol gate admits and media.ts parses", async () => {
    const url = bridge().mediaUrl('thumb', 12);
    assert.equal(url, 'pa-media://media/thumb/12');
    assert.ok(url.startsWith(security.MEDIA_BASE));
    assert.equal(security.mediaRequestRefusal(protocolRequest(url, 'app://renderer')), null);
    const thumb = join(dir, 'thumb.webp');
    await writeFile(thumb, 'webp bytes');
    const asked: number[] = [];
    const service = {
      photoFile: (id: number) => (asked.push(id), { path: join(dir, 'photo.jpg') }),
      thumbnailFile: async (id: number) => (asked.push(id), thumb),
    };
    const r = await mediaModule.mediaResponse(service, url);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/webp');
    assert.equal(await r.text(), 'webp bytes');
    assert.deepEqual(asked, [12, 12]);
  });
});

describe('main window', () => {
  it('is sandboxed, isolated and hidden until ready, and loads app://renderer/index.html', () => {
    FakeBrowserWindow.nextLoad = Promise.resolve();
    const win = windowModule.createMainWindow({ preload: '/app/preload.cjs', dev: false });
    assert.equal(win.options.show, false);
    assert.deepEqual(
      Object.fromEntries(['preload', 'contextIsolation', 'sandbox', 'nodeIntegration', 'webSecurity', 'webviewTag', 'devTools'].map((k) => [k, win.options.webPreferences?.[k]])),
      { preload: '/app/preload.cjs', contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false, devTools: false },
    );
    assert.deepEqual(win.loaded, ['app://renderer/index.html']);
    assert.equal(win.visible, false);
    win.emit('ready-to-show');
    assert.equal(win.visible, true);
  });

  it('shows itself and reports when the page fails to load', async () => {
    FakeBrowserWindow.nextLoad = Promise.reject(new Error("ERR_FAILED (-2) loading 'app://renderer/index.html'"));
    const errors: string[] = [];
    const win = windowModule.createMainWindow({ preload: '/app/preload.cjs', dev: false, onLoadError: (m) => errors.push(m) });
    await new Promise((r) => setImmediate(r));
    assert.equal(win.visible, true);
    assert.match(errors[0] ?? '', /failed to load: ERR_FAILED/);
    FakeBrowserWindow.nextLoad = Promise.resolve();
  });
});

describe('IPC registration', () => {
  it('registers every contract channel; an untrusted sender never reaches the dispatcher', async () => {
    const win = new FakeWindow();
    const calls: [string, unknown][] = [];
    const unregister = ipcRegister.registerIpc(async (channel, raw) => {
      calls.push([channel, raw]);
      return { ok: true, data: 'handled' };
    }, () => win);
    assert.deepEqual([...ipcHandlers.keys()].sort(), CHANNELS.map(ipcChannel).sort());

    const handler = ipcHandlers.get(ipcChannel('getPhoto'))!;
    assert.deepEqual(await handler(trusted(win), { photoId: 3 }), { ok: true, data: 'handled' });
    assert.deepEqual(calls, [['pa:getPhoto', { photoId: 3 }]]);
    const refused = await handler(trusted(new FakeWindow()), { photoId: 3 });
    assert.deepEqual(refused, { ok: false, error: { code: 'invalid_argument', message: 'unknown sender' } });
    assert.equal(calls.length, 1, 'the dispatcher was not called');

    unregister();
    assert.equal(ipcHandlers.size, 0);
  });

  it('forwards service events to our window only while it lives', () => {
    const listeners = new Map<string, (p: unknown) => void>();
    const service = {
      on(event: string, l: (p: unknown) => void) {
        listeners.set(event, l);
        return () => listeners.delete(event);
      },
    };
    let win: FakeWindow | null = new FakeWindow();
    const first = win;
    const off = ipcRegister.forwardEvents(service, () => win);
    assert.ok(listeners.has('stream:token') && listeners.has('worker:status'));
    listeners.get('stream:token')!({ requestId: 'r1', text: 'a dog' });
    assert.deepEqual(first.webContents.sent, [['pa-event:stream:token', { requestId: 'r1', text: 'a dog' }]]);
    first.destroyed = true;
    listeners.get('queue:status')!({ paused: true });
    win = null;
    listeners.get('queue:status')!({ paused: true });
    assert.equal(first.webContents.sent.length, 1);
    off();
    assert.equal(listeners.size, 0);
  });
});

describe('utility-process transport', () => {
  it('forks the entry as a named utility process and maps messages, logs and exit', async () => {
    const lines: string[] = [];
    const t = transportModule.utilityTransport('/app/worker.cjs', { log: (l) => lines.push(l) })();
    const child = forks.at(-1)!;
    assert.equal(child.entry, '/app/worker.cjs');
    assert.deepEqual(child.args, []);
    assert.equal(child.options.serviceName, transportModule.WORKER_SERVICE_NAME);
    assert.equal(child.options.stdio, 'pipe');
    assert.equal(t.pid, undefined, 'no pid before spawn');
    child.spawned(4242);
    assert.equal(t.pid, 4242);

    const received: unknown[] = [];
    t.onMessage((m) => received.push(m));
    child.emit('message', { type: 'ready', pid: 4242 });
    assert.deepEqual(received, [{ type: 'ready', pid: 4242 }]);
    assert.equal(t.send({ type: 'shutdown' }), true);
    assert.deepEqual(child.posted, [{ type: 'shutdown' }]);

    child.stderr.write('first line\nsecond ');
    child.stderr.write('line\n');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines, ['[inference-worker 4242] first line', '[inference-worker 4242] second line']);
    child.emit('error', 'FatalError', 'v8::Something', '{}');
    assert.match(lines.at(-1)!, /^\[inference-worker 4242\] FatalError at v8::Something/);

    const exits: WorkerExit[] = [];
    t.onExit((e) => exits.push(e));
    child.exited(70);
    child.exited(70);
    assert.deepEqual(exits, [{ code: 70, signal: null }], 'exactly one exit');
    assert.equal(t.pid, 4242, 'the pid of a dead worker is still known for its log line');
    assert.equal(t.send({ type: 'shutdown' }), false);
    t.kill();
    assert.equal(child.kills, 0, 'nothing to kill after exit');
    // A listener added after the exit (a shutdown that starts after a crash) still hears of it, once.
    const late = await new Promise<WorkerExit>((r) => t.onExit(r));
    assert.deepEqual(late, { code: 70, signal: null });
    assert.equal(exits.length, 1);
  });

  it('reports a refused postMessage as a failed send', () => {
    const t = transportModule.utilityTransport('/app/worker.cjs', { log: () => {} })();
    const child = forks.at(-1)!;
    child.postMessage = () => {
      throw new Error('the process is gone');
    };
    assert.equal(t.send({ type: 'shutdown' }), false);
  });

  it('kills gracefully, and SIGKILL really is SIGKILL', async () => {
    const t = transportModule.utilityTransport('/app/worker.cjs', { log: () => {} })();
    const child = forks.at(-1)!;
    // A real process stands in for the utility process, so the signal can be observed.
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    const gone = new Promise<NodeJS.Signals | null>((r) => sleeper.once('exit', (_code, signal) => r(signal)));
    child.spawned(sleeper.pid!);
    t.kill();
    assert.equal(child.kills, 1, 'a plain kill uses UtilityProcess.kill()');
    t.kill('SIGKILL');
    assert.equal(await gone, 'SIGKILL');
    assert.equal(child.kills, 1);
  });

  it('reports a fork that throws as an exit, after the host has subscribed', async () => {
    forkThrows = true;
    const lines: string[] = [];
    try {
      const t = transportModule.utilityTransport('/missing.cjs', { log: (l) => lines.push(l) })();
      const exit = new Promise<WorkerExit>((r) => t.onExit(r));
      assert.equal(t.pid, undefined);
      assert.equal(t.send({ type: 'shutdown' }), false);
      assert.deepEqual(await exit, { code: null, signal: null });
      assert.match(lines[0], /could not start: no such entry/);
    } finally {
      forkThrows = false;
    }
  });
});

describe('application menu', () => {
  const actions = { addFolder: () => {}, openSettings: () => {}, showAbout: () => {}, showPrivacy: () => {}, showLogs: () => {} };
  const roles = (items: MenuItem[]): string[] => items.flatMap((i) => [...(i.role ? [i.role] : []), ...roles(i.submenu ?? [])]);
  const labels = (items: MenuItem[]): string[] => items.flatMap((i) => [...(i.label ? [i.label] : []), ...labels(i.submenu ?? [])]);

  it('has reload and DevTools only in development', () => {
    const release = roles(menuModule.buildAppMenu(actions, { dev: false, appName: 'Photo Assistant' }));
    for (const r of ['reload', 'forceReload', 'toggleDevTools']) assert.ok(!release.includes(r), r);
    const dev = roles(menuModule.buildAppMenu(actions, { dev: true, appName: 'Photo Assistant' }));
    for (const r of ['reload', 'toggleDevTools']) assert.ok(dev.includes(r), r);
    for (const r of ['copy', 'paste', 'undo', 'selectAll']) assert.ok(release.includes(r), r);
  });

  it('offers Add Folder, Settings, About, Privacy and Show Logs, wired to their actions', () => {
    const called: string[] = [];
    const spy = {
      addFolder: () => void called.push('addFolder'),
      openSettings: () => void called.push('openSettings'),
      showAbout: () => void called.push('showAbout'),
      showPrivacy: () => void called.push('showPrivacy'),
      showLogs: () => void called.push('showLogs'),
    };
    const menu = menuModule.buildAppMenu(spy, { dev: false, appName: 'Photo Assistant' });
    const all = labels(menu);
    for (const l of ['Add Folder…', 'Settings…', 'About Photo Assistant', 'Privacy', 'Show Logs']) assert.ok(all.includes(l), l);
    const find = (items: MenuItem[], label: string): MenuItem | undefined =>
      items.find((i) => i.label === label) ?? items.map((i) => find(i.submenu ?? [], label)).find(Boolean);
    for (const l of ['Add Folder…', 'Settings…', 'About Photo Assistant', 'Privacy', 'Show Logs']) find(menu, l)!.click!();
    assert.deepEqual(called, ['addFolder', 'openSettings', 'showAbout', 'showPrivacy', 'showLogs']);
  });
});
