// The Electron shell's own logic, in Node: the shell modules are loaded through tsx's CommonJS hook
// with a stand-in 'electron' module (Electron cannot run here, and node_modules/electron would try
// to download its binary when required). Checked: app:// serves only renderer files with the CSP;
// IPC is honoured only from our window's top frame on our origin; navigation, popups and webviews
// are refused; every contract channel is registered and events reach only our window; the
// utility-process transport maps spawn, logs, exit and kill as InferenceHost expects; the menu
// hides reload and DevTools outside development.
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

const ipcHandlers = new Map<string, Listener>();
const forks: FakeUtilityProcess[] = [];
let forkThrows = false;
const fakeElectron = {
  app: { on: () => {}, getName: () => 'Photo Assistant' },
  protocol: { handle: () => {}, registerSchemesAsPrivileged: () => {} },
  nativeTheme: { themeSource: 'system', shouldUseDarkColors: false },
  BrowserWindow: { fromWebContents: (wc: FakeWebContents) => wc.owner },
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

interface TrustEvent { sender: FakeWebContents; senderFrame: { parent: unknown; url: string } | null }
const security = load('../../electron/main/security.ts') as {
  isAppUrl(url: string): boolean;
  isTrustedSender(event: TrustEvent, win: FakeWindow | null): boolean;
  hardenWebContents(contents: FakeWebContents): void;
  CONTENT_SECURITY_POLICY: string;
};
const windowModule = load('../../electron/main/window.ts') as {
  rendererResponse(dir: string, request: Request): Promise<Response>;
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
  buildAppMenu(actions: Record<'addFolder' | 'openSettings' | 'showAbout' | 'showPrivacy', () => void>, o: { dev: boolean; appName: string }): MenuItem[];
};

const trusted = (win: FakeWindow, url = 'app://renderer/index.html'): TrustEvent => ({
  sender: win.webContents,
  senderFrame: { parent: null, url },
});

// ---- tests ------------------------------------------------------------------------------------

describe('app:// renderer protocol', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pa-renderer-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(dir, 'assets', 'app.js'), 'console.log(1)');
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
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
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
    assert.equal(security.isTrustedSender({ sender: new FakeWebContents(null), senderFrame: { parent: null, url: 'app://renderer/' } }, win), false, 'no window');
    assert.equal(security.isTrustedSender({ sender: win.webContents, senderFrame: { parent: {}, url: 'app://renderer/' } }, win), false, 'a subframe');
    assert.equal(security.isTrustedSender({ sender: win.webContents, senderFrame: null }, win), false, 'a gone frame');
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
  const actions = { addFolder: () => {}, openSettings: () => {}, showAbout: () => {}, showPrivacy: () => {} };
  const roles = (items: MenuItem[]): string[] => items.flatMap((i) => [...(i.role ? [i.role] : []), ...roles(i.submenu ?? [])]);
  const labels = (items: MenuItem[]): string[] => items.flatMap((i) => [...(i.label ? [i.label] : []), ...labels(i.submenu ?? [])]);

  it('has reload and DevTools only in development', () => {
    const release = roles(menuModule.buildAppMenu(actions, { dev: false, appName: 'Photo Assistant' }));
    for (const r of ['reload', 'forceReload', 'toggleDevTools']) assert.ok(!release.includes(r), r);
    const dev = roles(menuModule.buildAppMenu(actions, { dev: true, appName: 'Photo Assistant' }));
    for (const r of ['reload', 'toggleDevTools']) assert.ok(dev.includes(r), r);
    for (const r of ['copy', 'paste', 'undo', 'selectAll']) assert.ok(release.includes(r), r);
  });

  it('offers Add Folder, Settings, About and Privacy, wired to their actions', () => {
    const called: string[] = [];
    const spy = {
      addFolder: () => void called.push('addFolder'),
      openSettings: () => void called.push('openSettings'),
      showAbout: () => void called.push('showAbout'),
      showPrivacy: () => void called.push('showPrivacy'),
    };
    const menu = menuModule.buildAppMenu(spy, { dev: false, appName: 'Photo Assistant' });
    const all = labels(menu);
    for (const l of ['Add Folder…', 'Settings…', 'About Photo Assistant', 'Privacy']) assert.ok(all.includes(l), l);
    const find = (items: MenuItem[], label: string): MenuItem | undefined =>
      items.find((i) => i.label === label) ?? items.map((i) => find(i.submenu ?? [], label)).find(Boolean);
    for (const l of ['Add Folder…', 'Settings…', 'About Photo Assistant', 'Privacy']) find(menu, l)!.click!();
    assert.deepEqual(called, ['addFolder', 'openSettings', 'showAbout', 'showPrivacy']);
  });
});
