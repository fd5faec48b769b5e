// The main window and the app:// protocol that serves the built renderer (renderer/dist) to it: a
// real, secure origin for the CSP, and no file:// anywhere. Only files inside renderer/dist are
// served; the page's photos come separately through pa-media:// by catalog id (media.ts).
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { BrowserWindow, app, nativeTheme, protocol } from 'electron';
import { APP_ENTRY_URL, APP_HOST, APP_SCHEME, CONTENT_SECURITY_POLICY } from './security.ts';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
};

function notFound(): Response {
  return new Response('not found', { status: 404, headers: { 'content-type': 'text/plain' } });
}

/** One renderer file for an app:// request, confined to rendererDir (no `..`, no other host). */
export async function rendererResponse(rendererDir: string, request: Request): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405 });
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return notFound();
  }
  if (url.host !== APP_HOST) return notFound();
  let rel: string;
  try {
    rel = decodeURIComponent(url.pathname);
  } catch {
    return notFound();
  }
  if (rel === '/' || rel === '') rel = '/index.html';
  const root = resolve(rendererDir);
  const file = resolve(root, `.${rel}`);
  if (!file.startsWith(root + sep) || rel.includes('\0')) return notFound();
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return notFound();
  }
  return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
    status: 200,
    headers: {
      'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    },
  });
}

/** Serves renderer/dist on app://renderer/. Call after app 'ready'. */
export function registerRendererProtocol(rendererDir: string): void {
  protocol.handle(APP_SCHEME, (request) => rendererResponse(rendererDir, request));
}

export interface MainWindowOptions {
  /** The bundled preload (electron/dist/preload.cjs). */
  preload: string;
  /** Window icon on Linux and Windows (macOS takes the bundle's). */
  icon?: string;
  /** Development build: DevTools may be opened. */
  dev: boolean;
  /** Told when the page could not be loaded (the window is shown anyway, so the app is not invisible). */
  onLoadError?: (message: string) => void;
}

export function createMainWindow(options: MainWindowOptions): BrowserWindow {
  // Light or dark follows the OS; the renderer's CSS does the rest with prefers-color-scheme.
  nativeTheme.themeSource = 'system';
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 760,
    minHeight: 520,
    show: false,
    title: app.getName(),
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#1c1c1e' : '#ffffff',
    ...(options.icon ? { icon: options.icon } : {}),
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      devTools: options.dev,
      spellcheck: false,
    },
  });
  // Navigation, popup and webview guards come from security.ts's 'web-contents-created' hook.
  win.once('ready-to-show', () => win.show());
  // loadURL rejects when the page fails (then 'ready-to-show' may never come): never an unhandled
  // rejection in main, and never a running app without a window.
  win.loadURL(APP_ENTRY_URL).catch((err: unknown) => {
    options.onLoadError?.(`${APP_ENTRY_URL} failed to load: ${err instanceof Error ? err.message : String(err)}`);
    if (!win.isDestroyed() && !win.isVisible()) win.show();
  });
  return win;
}

/** Brings the window to the front (second instance, dock click, menu action). */
export function focusWindow(win: BrowserWindow): void {
  if (win.isMinimized()) win.restore();
  if (!win.isVisible()) win.show();
  win.focus();
}
