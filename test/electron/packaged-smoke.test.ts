// The packaged app, started: electron-builder's dir target built with the real Electron (electronDist)
// and the real fuses, launched under X (Xvfb when there is no display) with a fixture model, driven
// through Chromium's DevTools port (Playwright's connectOverCDP: the NodeCliInspectArguments fuse is
// off, so _electron.launch, which needs Node's --inspect, cannot attach to a fused app). Checks: the
// window loads; the catalog opens (better-sqlite3: a folder is added and its photo listed); a pa-media
// thumbnail is served (sharp); the inference worker reports ready (onnxruntime-node from
// app.asar.unpacked, in a utility process).
//
// Runs wherever Electron's binary is present (node_modules/electron/dist, or PHOTO_ASSISTANT_ELECTRON_DIST
// pointing at an unpacked Electron 45 for this machine); otherwise it is skipped, saying why. It also
// needs better-sqlite3 built for Electron in .cache/electron-natives/ (`npm run dist` on Node 22 makes it,
// or this test does on Node 22 with the network). See README.md, "Desktop app".
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page, chromium } from 'playwright-core';
import { ROOT, buildRenderer, bundleElectron } from '../../electron/build.ts';
import { SQLITE_BINARY, addonAbi, installedElectron, prepareElectronNatives, stagedNativesDir } from '../../electron/packaging/natives.ts';
import { packLinuxDir } from '../../electron/packaging/pack.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { tinyModel } from '../e2e/fixture-models.ts';

/** An unpacked Electron for this machine, or why there is none. */
function findElectronDist(): { dir: string } | { missing: string } {
  const override = process.env.PHOTO_ASSISTANT_ELECTRON_DIST;
  if (override) return existsSync(join(override, 'electron')) ? { dir: override } : { missing: `PHOTO_ASSISTANT_ELECTRON_DIST has no ${join(override, 'electron')}` };
  const pkg = join(ROOT, 'node_modules', 'electron');
  if (!existsSync(join(pkg, 'path.txt'))) return { missing: "Electron's binary is not installed (node_modules/electron/path.txt is missing; `npx install-electron` fetches it)" };
  const dir = join(pkg, 'dist');
  return existsSync(join(dir, 'electron')) ? { dir } : { missing: `${join(dir, 'electron')} does not exist` };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const found = process.platform === 'linux' ? findElectronDist() : { missing: 'the packaged smoke test builds the Linux dir target' };
const skip = 'missing' in found ? `packaged app smoke test skipped: ${found.missing}` : false;

let tmp: string;
let xvfb: ChildProcess | undefined;
let app: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let appStderr = '';
let photosDir: string;

async function call<T>(channel: string, arg?: unknown): Promise<T> {
  const r = await page.evaluate(async ([c, a]) => (window as unknown as { photoAssistant: Record<string, (x?: unknown) => Promise<unknown>> }).photoAssistant[c as string](a), [channel, arg] as const) as { ok: boolean; data?: T; error?: { message: string } };
  if (!r.ok) throw new Error(`${channel}: ${r.error?.message}`);
  return r.data as T;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${appStderr.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the packaged app starts (real Electron, fused, under X)', { skip }, () => {
  before(async () => {
    if ('missing' in found) return;
    await mkdir(join(ROOT, '.cache'), { recursive: true });
    tmp = await mkdtemp(join(ROOT, '.cache', 'packaged-smoke-'));
    const electron = installedElectron();
    const target = { electronVersion: electron.version, platform: process.platform, arch: process.arch };
    const staged = join(stagedNativesDir(target), SQLITE_BINARY);
    if (!existsSync(staged) || addonAbi(staged) !== electron.abi) await prepareElectronNatives(target);

    await bundleElectron();
    await buildRenderer({ logTo: 'stderr' });
    const appDir = await packLinuxDir({ electronDist: found.dir, outDir: join(tmp, 'out'), logTo: 'stderr', arch: process.arch === 'arm64' ? 'arm64' : 'x64' });

    // A user-data folder with the tiny fixture model set (the app reads <XDG_CONFIG_HOME>/Photo Assistant/settings.json).
    const config = join(tmp, 'config');
    await mkdir(join(config, 'Photo Assistant'), { recursive: true });
    await writeFile(join(config, 'Photo Assistant', 'settings.json'), JSON.stringify({ captionModelDir: await tinyModel('opt') }));
    photosDir = join(tmp, 'photos');
    await mkdir(photosDir);
    copyFileSync(join(FIXTURES, 'images', 'chelsea_451x300.png'), join(photosDir, 'chelsea.png'));

    let display = process.env.DISPLAY;
    if (!display) {
      if (spawnSync('sh', ['-c', 'command -v Xvfb'], { stdio: 'ignore' }).status !== 0) throw new Error('no DISPLAY and no Xvfb: apt-get install xvfb, or run under xvfb-run');
      display = ':97';
      xvfb = spawn('Xvfb', [display, '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1000));
    }
    const port = await freePort();
    // Chromium refuses to run as root with its sandbox: only then (a CI container) does this test turn it
    // off, for this launch. The package never does (package-dir.test.ts checks the config and the deb).
    const asRoot = process.getuid?.() === 0;
    app = spawn(join(appDir, 'photo-assistant'), [`--remote-debugging-port=${port}`, ...(asRoot ? ['--no-sandbox'] : [])], {
      env: { ...process.env, DISPLAY: display, XDG_CONFIG_HOME: config, HOME: tmp, ELECTRON_ENABLE_LOGGING: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    app.stderr?.on('data', (d: Buffer) => {
      appStderr += d.toString();
    });
    browser = await until('the DevTools port', async () => chromium.connectOverCDP(`http://127.0.0.1:${port}`).catch(() => undefined), 60_000);
    page = await until('the window', async () => browser?.contexts().flatMap((c) => c.pages()).find((p) => p.url().startsWith('app://')));
  });

  after(async () => {
    await browser?.close().catch(() => {});
    app?.kill('SIGTERM');
    xvfb?.kill('SIGTERM');
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('loads the window from app://', async () => {
    await page.waitForSelector('h1', { timeout: 60_000 });
    assert.match(page.url(), /^app:\/\/renderer\//);
    assert.equal(await page.evaluate(() => typeof (window as unknown as { photoAssistant?: unknown }).photoAssistant), 'object');
  });

  it('reports the inference worker and the fixture model ready', async () => {
    const state = await until('worker and model ready', async () => {
      const s = await call<{ worker: { state: string }; models: { caption: { state: string; error?: { message: string } } } }>('getState');
      if (s.models.caption.state === 'error') throw new Error(`the model failed to load: ${s.models.caption.error?.message}`);
      return s.worker.state === 'ready' && s.models.caption.state === 'ready' ? s : undefined;
    });
    assert.equal(state.worker.state, 'ready');
  });

  it('opens the catalog and serves a pa-media thumbnail', async () => {
    await call('addFolder', { path: photosDir });
    const first = await until('the photo in the catalog', async () => {
      const list = await call<{ total: number; items: { id: number }[] }>('listPhotos', {});
      return list.items[0];
    });
    const size = await page.evaluate(async (id) => {
      const img = new Image();
      img.src = (window as unknown as { photoAssistant: { mediaUrl: (k: string, id: number) => string } }).photoAssistant.mediaUrl('thumb', id);
      await img.decode();
      return { url: img.src, width: img.naturalWidth, height: img.naturalHeight };
    }, first.id);
    assert.match(size.url, /^pa-media:\/\/media\/thumb\/\d+$/);
    assert.ok(size.width > 0 && size.height > 0, `thumbnail ${size.width}×${size.height}`);
  });
});
