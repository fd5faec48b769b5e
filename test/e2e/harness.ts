// The renderer end-to-end harness: the built renderer in headless Chromium (Debian's, driven by
// playwright-core), with window.photoAssistant backed by the REAL main-process service in this test
// process — real catalog in a temp folder, real watcher, real inference worker with the tiny fixture
// models — exactly as Electron's preload would back it, only the transport differs:
//   page ── window.photoAssistant (buildBridge, bridge-shim.ts) ── __paInvoke binding ──▶ createDispatcher(AppService)
//   AppService events ──▶ page.evaluate(__paEmit) ──▶ the bridge's listeners
//   <img src=".../media/thumb/12"> ── node:http on 127.0.0.1 ──▶ mediaResponse(AppService)
// Pages are served with the app's CSP (electron/main/csp.ts), the media base standing in for pa-media:.
import { spawn } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve, sep } from 'node:path';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { AppService } from '../../electron/main/app-service.ts';
import { contentSecurityPolicy } from '../../electron/main/csp.ts';
import type { SecretBox } from '../../electron/main/hub-token.ts';
import { createDispatcher } from '../../electron/main/ipc-handlers.ts';
import { mediaResponse } from '../../electron/main/media.ts';
import { SETTINGS_FILE } from '../../electron/main/settings-store.ts';
import type { TransportFactory } from '../../src/jobs/transport.ts';
import type { AppSettings } from '../../src/shared/app-types.ts';
import { EVENTS, ipcEvent } from '../../src/shared/ipc-contract.ts';
import { REPO_ROOT } from '../helpers/fixtures.ts';
import { tinyModel } from './fixture-models.ts';

export const CHROMIUM = process.env.PA_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(REPO_ROOT, 'test', 'e2e', 'artifacts');
const RENDERER = join(REPO_ROOT, 'renderer');
const RENDERER_DIST = join(RENDERER, 'dist');

export interface StartAppOptions {
  /** Files copied into the temp photo folder. */
  photos?: string[];
  /** Convert (once, cached) and set the tiny captioning model. */
  withModel?: boolean;
  /** Convert (once, cached) and set the tiny retrieval (blip2-itm) model. */
  retrievalModel?: boolean;
  settings?: Partial<AppSettings>;
  /** Add the photo folder to the library before the page loads (skips the first-run folder step). */
  addFolder?: boolean;
  /** Work the queue at once (default true); false opens it paused. */
  autoStart?: boolean;
  /** Serve this folder instead of the built renderer (the harness's own tests). */
  staticDir?: string;
  /** How converter processes (conversions, Hub downloads) start; default Node children. */
  convertTransport?: TransportFactory;
  viewport?: { width: number; height: number };
}

export interface RunningApp {
  page: Page;
  service: AppService;
  userDataDir: string;
  photoDir: string;
  baseUrl: string;
  /** What the bridge's mediaUrl() builds on. */
  mediaBase: string;
  /** Uncaught page errors and console errors (CSP violations are reported there). */
  pageErrors: string[];
  /** Paths the page asked to reveal (revealPhoto). */
  revealed: string[];
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startApp(opts: StartAppOptions = {}): Promise<RunningApp> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set PA_CHROMIUM)`);
  const root = opts.staticDir ?? (await ensureRendererBuilt());
  const tmp = await mkdtemp(join(tmpdir(), 'pa-e2e-'));
  const photoDir = join(tmp, 'photos');
  const userDataDir = join(tmp, 'user-data');
  await mkdir(photoDir);
  await mkdir(userDataDir);
  for (const f of opts.photos ?? []) await cp(f, join(photoDir, basename(f)));
  const settings: Partial<AppSettings> = {
    ...(opts.withModel ? { captionModelDir: await tinyModel('opt') } : {}),
    ...(opts.retrievalModel ? { retrievalModelDir: await tinyModel('itm') } : {}),
    ...opts.settings,
  };
  await writeFile(join(userDataDir, SETTINGS_FILE), JSON.stringify(settings));

  const revealed: string[] = [];
  const service = await AppService.open({
    userDataDir,
    autoStart: opts.autoStart,
    restartBackoffMs: 50,
    watcher: { stabilityMs: 200, debounceMs: 100 },
    // The "native" folder picker chooses the test's photo folder.
    pickDirectory: async () => photoDir,
    revealPath: (p) => { revealed.push(p); return true; },
    convertTransport: opts.convertTransport,
    secrets: STAND_IN_SECRETS,
    // $HF_ENDPOINT of the machine running the tests never leaks in: the Hub is what settings say.
    env: {},
    // PA_E2E_LOG=1 shows the service's and the worker's log lines while debugging a test.
    log: process.env.PA_E2E_LOG ? (level, message) => process.stderr.write(`[app ${level}] ${message}\n`) : () => {},
  }).catch(async (err: unknown) => {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  });
  // Undone in reverse: the page and browser first, then the server, the service, the temp folder.
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => rm(tmp, { recursive: true, force: true }), () => service.close()];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve().then(c).catch(() => {});
  };
  try {
    if (opts.addFolder) await service.addFolder({ path: photoDir });
    const dispatch = createDispatcher(service);

    const { server, port } = await serve(root, service, (base) => contentSecurityPolicy(base));
    cleanups.push(() => closeServer(server));
    const baseUrl = `http://127.0.0.1:${port}`;
    const mediaBase = `${baseUrl}/media/`;

    const browser = await acquireBrowser();
    cleanups.push(() => releaseBrowser());
    const context: BrowserContext = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 820 } });
    cleanups.push(() => context.close());
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

    // Like ipc-register.ts's sender check: only the top frame of our page may call.
    await page.exposeBinding('__paInvoke', (source, channel: unknown, arg: unknown) => {
      if (source.frame !== page.mainFrame()) return { ok: false, error: { code: 'invalid_argument', message: 'unknown sender' } };
      return dispatch(String(channel), arg);
    });
    await page.addInitScript({ content: `globalThis.__paMediaBase = ${JSON.stringify(mediaBase)};\n${await bridgeBundle()}` });

    let open = true;
    cleanups.push(() => { open = false; });
    for (const e of EVENTS) {
      const off = service.on(e, (payload) => {
        if (!open) return;
        // Sent in order over one DevTools connection; a page mid-navigation simply misses it (as a reload would).
        page.evaluate(([name, p]) => (globalThis as { __paEmit?: (n: string, p: unknown) => void }).__paEmit?.(name, p), [ipcEvent(e), payload] as const)
          .catch(() => {});
      });
      cleanups.push(off);
    }

    await page.goto(`${baseUrl}/index.html`, { waitUntil: 'load' });
    return {
      page, service, userDataDir, photoDir, baseUrl, mediaBase, pageErrors, revealed,
      screenshot: async (name) => {
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, `${name.replace(/[^\w.-]+/g, '-')}.png`), fullPage: true });
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Stands in for Electron's safeStorage (Electron cannot run here): reversible, keyed per process,
 * and never the token's plain text on disk, so the tests can check what is written.
 */
const SECRET_KEY = Buffer.from(`pa-e2e-${process.pid}`);
const STAND_IN_SECRETS = {
  available: async () => true,
  encrypt: async (plain: string) => xor(Buffer.from(`sealed:${plain}`, 'utf8')),
  decrypt: async (sealed: Uint8Array) => {
    const text = Buffer.from(xor(sealed)).toString('utf8');
    if (!text.startsWith('sealed:')) throw new Error('not sealed by this process');
    return text.slice('sealed:'.length);
  },
} satisfies SecretBox;

function xor(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes, (b, i) => b ^ SECRET_KEY[i % SECRET_KEY.length]);
}

// ── the renderer build ────────────────────────────────────────────────────────────────────────

let rendererBuild: Promise<string> | undefined;

/** renderer/dist, built with Vite when missing or older than its sources (once per process). */
export function ensureRendererBuilt(): Promise<string> {
  rendererBuild ??= (async () => {
    const config = join(RENDERER, 'vite.config.ts');
    if (!existsSync(config)) throw new Error('renderer/vite.config.ts is missing: there is no renderer to test yet');
    const built = mtime(join(RENDERER_DIST, 'index.html'));
    const sources = [join(RENDERER, 'src'), join(RENDERER, 'index.html'), config, join(RENDERER, 'svelte.config.js'), join(REPO_ROOT, 'src', 'shared')];
    if (built === undefined || built < Math.max(...sources.map(newestMtime))) await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', config, '--logLevel', 'warn']);
    if (!existsSync(join(RENDERER_DIST, 'index.html'))) throw new Error('the renderer build produced no renderer/dist/index.html');
    return RENDERER_DIST;
  })();
  rendererBuild.catch(() => { rendererBuild = undefined; });
  return rendererBuild;
}

function mtime(path: string): number | undefined {
  return existsSync(path) ? statSync(path).mtimeMs : undefined;
}

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${basename(args[0] ?? cmd)} ${args.slice(1).join(' ')} failed (${code}):\n${out}`))));
  });
}

// ── the preload stand-in ──────────────────────────────────────────────────────────────────────

let shim: Promise<string> | undefined;

/** bridge-shim.ts (and the contract it imports) as one IIFE for page.addInitScript. */
export function bridgeBundle(): Promise<string> {
  shim ??= build({
    entryPoints: [join(REPO_ROOT, 'test', 'e2e', 'bridge-shim.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0].text);
  return shim;
}

// ── the web server (renderer files + media) ───────────────────────────────────────────────────

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.webp': 'image/webp', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff',
};

async function serve(rootDir: string, service: AppService, csp: (mediaBase: string) => string): Promise<{ server: Server; port: number }> {
  const root = resolve(rootDir);
  let policy = '';
  const server = createServer((req, res) => void handle(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('server error');
  }));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/media/')) return send(res, await mediaResponse(service, url), req.method === 'HEAD');
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return void res.writeHead(400).end();
    }
    if (rel === '/') rel = '/index.html';
    // Chromium asks for a favicon the app (Electron) never does; a 404 would read as a page error.
    if (rel === '/favicon.ico' && !existsSync(join(root, 'favicon.ico'))) return void res.writeHead(204).end();
    const file = resolve(root, `.${rel}`);
    if (!file.startsWith(root + sep) || rel.includes('\0')) return void res.writeHead(404).end();
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-security-policy': policy,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  policy = csp(`http://127.0.0.1:${port}/media/`);
  return { server, port };
}

async function send(res: ServerResponse, r: Response, head: boolean): Promise<void> {
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => { headers[k] = v; });
  res.writeHead(r.status, headers);
  res.end(head ? undefined : Buffer.from(await r.arrayBuffer()));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

// ── one Chromium per test process ─────────────────────────────────────────────────────────────

let browser: Promise<Browser> | undefined;
let users = 0;

async function acquireBrowser(): Promise<Browser> {
  users++;
  browser ??= chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-gpu', '--no-first-run', '--disable-sync'],
  });
  try {
    return await browser;
  } catch (err) {
    users--;
    browser = undefined;
    throw err;
  }
}

async function releaseBrowser(): Promise<void> {
  if (--users > 0 || !browser) return;
  const b = browser;
  browser = undefined;
  await (await b).close();
}
