// The bundled main process (electron/dist/main.cjs) past app 'ready', against a stand-in 'electron'
// module that behaves like Electron where order matters: registerSchemesAsPrivileged and
// enableSandbox throw after 'ready'; protocol.handle, BrowserWindow and utilityProcess.fork throw
// before it. The real AppService opens a fresh library in a temporary user-data folder. Checked:
// the startup order (privileged schemes and sandbox before ready; the session hardened, both
// protocols handled on the default session and every IPC channel registered before the window
// loads app://renderer/index.html); the app:// and pa-media:// handlers as the window would use
// them (CSP, an unknown photo is a 404, another origin a 403); an IPC call from our window's top
// frame answered and one from a gone frame refused; every webContents guarded; quitting closes the
// library once and exits 0 however often 'before-quit' comes.
// The bundle lives in .cache/<tmp>/electron/dist beside a stand-in renderer/dist, so its
// `__dirname/../../renderer/dist` is that folder and its externals still resolve from node_modules.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUNDLES, ROOT, bundleElectron } from '../../electron/build.ts';
import { CHANNELS, ipcChannel } from '../../src/shared/ipc-contract.ts';

let tmp: string;
let mainBundle: string;

before(async () => {
  await mkdir(join(ROOT, '.cache'), { recursive: true });
  tmp = await mkdtemp(join(ROOT, '.cache', 'electron-main-'));
  const outDir = join(tmp, 'electron', 'dist');
  const result = await bundleElectron({ outDir, only: ['main'] });
  assert.deepEqual(result.warnings.map((w) => w.text), []);
  mainBundle = join(outDir, BUNDLES.main.out);
  await mkdir(join(tmp, 'renderer', 'dist', 'assets'), { recursive: true });
  await writeFile(join(tmp, 'renderer', 'dist', 'index.html'), '<!doctype html><script type="module" crossorigin src="./assets/app.js"></script>');
  await writeFile(join(tmp, 'renderer', 'dist', 'assets', 'app.js'), 'export {};');
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/**
 * The stand-in: records every call in order, and once the window loads its URL plays the renderer
 * (fetches the page and a photo through the registered handlers, calls IPC) and then quits.
 */
const ELECTRON_STUB = String.raw`
const Module = require('node:module');
const { EventEmitter } = require('node:events');
const calls = [];
const note = (...entry) => calls.push(entry);
let ready = false;
const mustBeReady = (what) => { if (!ready) throw new Error(what + ' before app ready'); };
const mustNotBeReady = (what) => { if (ready) throw new Error(what + ' after app ready'); };

const appEvents = new EventEmitter();
const paths = { appData: process.env.FAKE_APPDATA };
const app = {
  isPackaged: false,
  setName: (n) => note('app.setName', n),
  getName: () => 'Photo Assistant',
  getVersion: () => '0.0.0',
  setPath: (name, p) => { note('app.setPath', name); paths[name] = p; },
  getPath: (name) => paths[name] ?? '/nonexistent/' + name,
  enableSandbox: () => { mustNotBeReady('app.enableSandbox'); note('app.enableSandbox'); },
  requestSingleInstanceLock: () => { note('app.requestSingleInstanceLock'); return true; },
  quit: () => note('app.quit'),
  exit: (code) => {
    note('app.exit', code);
    setImmediate(() => process.exit(code));
  },
  on: (event, listener) => { note('app.on', event); appEvents.on(event, listener); return app; },
  whenReady: () => {
    note('app.whenReady');
    return new Promise((resolve) => setImmediate(() => { ready = true; note('ready'); resolve(); }));
  },
};

const handlers = new Map();
const protocol = {
  registerSchemesAsPrivileged: (schemes) => { mustNotBeReady('registerSchemesAsPrivileged'); note('protocol.registerSchemesAsPrivileged', schemes.map((s) => s.scheme)); },
  handle: (scheme, handler) => { mustBeReady('protocol.handle'); note('protocol.handle', scheme); handlers.set(scheme, handler); },
};
const defaultSession = {
  webRequest: {
    onHeadersReceived: () => note('session.onHeadersReceived'),
    onBeforeRequest: () => note('session.onBeforeRequest'),
  },
  setPermissionRequestHandler: () => note('session.setPermissionRequestHandler'),
  setPermissionCheckHandler: () => note('session.setPermissionCheckHandler'),
  setDevicePermissionHandler: () => note('session.setDevicePermissionHandler'),
  on: (event) => note('session.on', event),
};
const ipc = new Map();
const ipcMain = {
  handle: (channel, h) => { if (ipc.has(channel)) throw new Error('second handler for ' + channel); note('ipcMain.handle', channel); ipc.set(channel, h); },
  removeHandler: (channel) => ipc.delete(channel),
};

class WebContents extends EventEmitter {
  constructor() { super(); this.openHandler = null; this.sent = []; }
  setWindowOpenHandler(h) { this.openHandler = h; }
  send(channel, payload) { this.sent.push(channel); }
  isDestroyed() { return false; }
}
class BrowserWindow extends EventEmitter {
  static fromWebContents(wc) { return wc.owner ?? null; }
  constructor(options) {
    super();
    mustBeReady('new BrowserWindow');
    note('BrowserWindow', options.show, options.webPreferences);
    this.webContents = new WebContents();
    this.webContents.owner = this;
    appEvents.emit('web-contents-created', {}, this.webContents);
  }
  isDestroyed() { return false; }
  isVisible() { return false; }
  isMinimized() { return false; }
  show() { note('win.show'); }
  loadURL(url) {
    note('win.loadURL', url);
    setImmediate(() => playRenderer(this, url).catch((err) => { note('renderer failed', String(err && err.stack || err)); app.exit(9); }));
    return Promise.resolve();
  }
}

const request = (url, initiatorOrigin, method = 'GET') =>
  Object.assign(new Request(url, { method }), initiatorOrigin === undefined ? {} : { initiatorOrigin });

async function playRenderer(win, url) {
  const wc = win.webContents;
  note('guards', wc.listenerCount('will-navigate'), wc.listenerCount('will-attach-webview'), JSON.stringify(wc.openHandler && wc.openHandler({ url: 'https://example.com' })));
  const page = await handlers.get('app')(request(url));
  note('app response', page.status, page.headers.get('content-type'), page.headers.get('content-security-policy') !== null);
  const script = await handlers.get('app')(request('app://renderer/assets/app.js', 'app://renderer'));
  note('script response', script.status, script.headers.get('content-type'));
  const photo = await handlers.get('pa-media')(request('pa-media://media/thumb/999', 'app://renderer'));
  note('media response', photo.status);
  const foreign = await handlers.get('pa-media')(request('pa-media://media/thumb/999', 'https://example.com'));
  note('foreign media response', foreign.status);
  const frame = { parent: null, url, detached: false, isDestroyed: () => false };
  const state = await ipc.get('pa:getState')({ sender: wc, senderFrame: frame }, undefined);
  note('getState', state.ok);
  const gone = await ipc.get('pa:getState')({ sender: wc, senderFrame: null }, undefined);
  note('getState from a gone frame', gone.ok, gone.ok ? null : gone.error.message);
  // Quit, twice (Cmd+Q then the window closing): the library closes once, the app exits once.
  let prevented = 0;
  appEvents.emit('before-quit', { preventDefault: () => prevented++ });
  appEvents.emit('before-quit', { preventDefault: () => prevented++ });
  note('before-quit prevented', prevented);
}

const electron = {
  app, protocol, ipcMain, BrowserWindow,
  session: { defaultSession },
  Menu: { buildFromTemplate: (t) => t, setApplicationMenu: () => note('Menu.setApplicationMenu') },
  dialog: { showErrorBox: (title, message) => note('dialog.showErrorBox', title, message), showOpenDialog: async () => ({ canceled: true, filePaths: [] }), showMessageBox: async () => ({}) },
  shell: { showItemInFolder: () => {} },
  nativeTheme: { themeSource: 'system', shouldUseDarkColors: false },
  utilityProcess: { fork: () => { mustBeReady('utilityProcess.fork'); note('utilityProcess.fork'); throw new Error('no worker in this test'); } },
};
const load = Module._load;
Module._load = function (req, ...rest) {
  return req === 'electron' ? electron : load.call(this, req, ...rest);
};
setTimeout(() => { note('timeout'); process.exit(3); }, 30_000).unref();
process.on('exit', () => process.stdout.write('\n@@CALLS@@' + JSON.stringify(calls)));
`;

type Call = [string, ...unknown[]];

describe('main bundle after app ready (stand-in electron module)', () => {
  let calls: Call[];
  let stderr: string;

  before(async () => {
    const stub = join(tmp, 'electron-stub.cjs');
    await writeFile(stub, ELECTRON_STUB);
    const appData = join(tmp, 'appData');
    const r = spawnSync(process.execPath, ['--require', stub, mainBundle], {
      encoding: 'utf8',
      env: { ...process.env, FAKE_APPDATA: appData },
      timeout: 60_000,
    });
    stderr = r.stderr;
    const marker = r.stdout.lastIndexOf('@@CALLS@@');
    assert.ok(marker >= 0, `no record of calls; status ${r.status}\n${r.stderr}`);
    calls = JSON.parse(r.stdout.slice(marker + '@@CALLS@@'.length)) as Call[];
    assert.equal(r.status, 0, `${JSON.stringify(calls.filter((c) => /failed|exit|dialog|timeout/.test(c[0])))}\n${stderr}`);
  });

  const index = (name: string, arg?: unknown): number => {
    const i = calls.findIndex((c) => c[0] === name && (arg === undefined || c[1] === arg));
    assert.ok(i >= 0, `${name}${arg === undefined ? '' : ` ${String(arg)}`} was called`);
    return i;
  };
  const find = (name: string): Call => calls[index(name)];

  it('registers the schemes and the sandbox before ready, and everything the page needs before it loads', () => {
    const ready = index('ready');
    assert.ok(index('app.setPath', 'userData') < index('app.requestSingleInstanceLock'), 'the lock is taken on the final user-data folder');
    assert.ok(index('app.enableSandbox') < ready);
    assert.ok(index('protocol.registerSchemesAsPrivileged') < ready);
    assert.deepEqual(find('protocol.registerSchemesAsPrivileged')[1], ['app', 'pa-media']);
    const load = index('win.loadURL');
    for (const [name, arg] of [
      ['session.onHeadersReceived'], ['session.onBeforeRequest'], ['session.setPermissionRequestHandler'],
      ['session.setPermissionCheckHandler'], ['protocol.handle', 'app'], ['protocol.handle', 'pa-media'], ['Menu.setApplicationMenu'],
      ...CHANNELS.map((c) => ['ipcMain.handle', ipcChannel(c)]),
    ] as [string, string?][]) {
      const i = index(name, arg);
      assert.ok(ready < i && i < load, `${name} ${arg ?? ''} between ready and the page load`);
    }
    assert.equal(find('win.loadURL')[1], 'app://renderer/index.html');
    const [, show, prefs] = find('BrowserWindow') as [string, boolean, Record<string, unknown>];
    assert.equal(show, false);
    assert.equal(prefs.sandbox, true);
    assert.equal(prefs.contextIsolation, true);
    assert.equal(prefs.nodeIntegration, false);
    assert.match(String(prefs.preload), /preload\.cjs$/);
    assert.ok(!calls.some((c) => c[0] === 'utilityProcess.fork'), 'no model, no worker');
    assert.ok(!calls.some((c) => c[0] === 'dialog.showErrorBox'), stderr);
  });

  it('guards the window, serves the page with its CSP and photos to our origin only', () => {
    assert.deepEqual(find('guards'), ['guards', 1, 1, JSON.stringify({ action: 'deny' })]);
    assert.deepEqual(find('app response'), ['app response', 200, 'text/html; charset=utf-8', true]);
    assert.deepEqual(find('script response'), ['script response', 200, 'text/javascript; charset=utf-8']);
    assert.deepEqual(find('media response'), ['media response', 404], 'an unknown photo id, once the library is open');
    assert.deepEqual(find('foreign media response'), ['foreign media response', 403]);
  });

  it('answers IPC from our top frame, refuses a gone frame', () => {
    assert.deepEqual(find('getState'), ['getState', true]);
    assert.deepEqual(find('getState from a gone frame'), ['getState from a gone frame', false, 'unknown sender']);
  });

  it('closes the library once and exits 0 when quitting', () => {
    assert.deepEqual(find('before-quit prevented'), ['before-quit prevented', 2]);
    assert.deepEqual(calls.filter((c) => c[0] === 'app.exit'), [['app.exit', 0]]);
  });
});
