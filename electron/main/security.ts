// The renderer is treated as untrusted: this module holds the origin it is served from, the CSP,
// and the guards every webContents gets (no navigation, no new windows, no webviews, no permission
// but our page's clipboard write, no network). ipc-register.ts asks isTrustedSender() before any
// call reaches the core; main.ts asks mediaRequestRefusal() before serving a photo.
import {
  type BrowserWindow, type IpcMainInvokeEvent, type Session, type WebContents, app, protocol,
} from 'electron';
import { MEDIA_SCHEME, parseMediaPath } from '../../src/shared/ipc-contract.ts';
import { contentSecurityPolicy } from './csp.ts';

/** The built renderer is served from app://renderer/ (window.ts), never from file://. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'renderer';
export const APP_ENTRY_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/**
 * Photos are `pa-media://media/<kind>/<id>`: for a standard scheme the host is 'media' and the
 * pathname '/thumb/12', which media.ts's parseMediaPath reads. The preload builds the same base.
 */
export const MEDIA_HOST = 'media';
export const MEDIA_BASE = `${MEDIA_SCHEME}://${MEDIA_HOST}/`;

export const CONTENT_SECURITY_POLICY = contentSecurityPolicy(`${MEDIA_SCHEME}:`);

/** Must run before app 'ready': schemes gain their privileges only then. */
export function registerPrivilegedSchemes(): void {
  protocol.registerSchemesAsPrivileged([
    // standard + secure: a real origin ('self' in the CSP), relative URLs, a secure context
    // (navigator.clipboard), and no mixed-content downgrade. The page's module scripts and
    // stylesheets (Vite marks them crossorigin) are same-origin CORS requests, which a standard
    // scheme serves without corsEnabled; no other origin may read app:// (no corsEnabled on purpose).
    // No bypassCSP: the CSP applies to both schemes.
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
    // Photos load in plain <img> (no-cors), which needs neither corsEnabled nor CORS headers.
    { scheme: MEDIA_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
  ]);
}

/** True for a URL of the app's own renderer origin. (URL.origin is "null" for custom schemes.) */
export function isAppUrl(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST;
  } catch {
    return false;
  }
}

/**
 * An IPC call is honoured only from the top frame of our main window showing our renderer: not
 * from another window (DevTools included), an iframe, or a page that somehow navigated elsewhere.
 * `senderFrame` is null once the frame navigated or was destroyed (Electron ≥ 30), and a frame
 * going away may throw on access: all of that is "not trusted".
 */
export function isTrustedSender(event: IpcMainInvokeEvent, mainWindow: BrowserWindow | null): boolean {
  try {
    if (!mainWindow || mainWindow.isDestroyed()) return false;
    const contents = mainWindow.webContents;
    if (contents.isDestroyed() || event.sender !== contents) return false;
    const frame = event.senderFrame;
    if (!frame || frame.isDestroyed() || frame.detached || frame.parent !== null) return false;
    return isAppUrl(frame.url);
  } catch {
    return false;
  }
}

/**
 * The gate of pa-media:// requests, before media.ts reads anything: a Response refusing the
 * request, or null to serve it. Only GET/HEAD of `pa-media://media/<thumb|photo>/<id>`, only for our page:
 * `request.initiatorOrigin` (Electron's protocol.handle sets it on requests web content made; it is
 * absent for browser-initiated ones and "null" for opaque origins) must be the app's origin.
 */
export function mediaRequestRefusal(request: Request): Response | null {
  const refuse = (status: number): Response =>
    new Response(null, { status, headers: { 'x-content-type-options': 'nosniff' } });
  if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(405);
  const origin = (request as Request & { initiatorOrigin?: string }).initiatorOrigin;
  if (origin !== undefined && !isAppUrl(origin)) return refuse(403);
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return refuse(400);
  }
  // Exactly pa-media://media/<kind>/<id> (media.ts itself only looks at the last two segments).
  if (url.protocol !== `${MEDIA_SCHEME}:` || url.host !== MEDIA_HOST || !parseMediaPath(url.pathname)) return refuse(404);
  return null;
}

/**
 * The one permission the page uses: writing text to the clipboard (ChatPane's Copy, through
 * navigator.clipboard, which Chromium gates as 'clipboard-sanitized-write'), and only for our
 * origin's top frame. Everything else is denied.
 */
export function isAllowedPermission(permission: string, requestingUrl: string | undefined, isMainFrame: boolean): boolean {
  return permission === 'clipboard-sanitized-write' && isMainFrame && requestingUrl !== undefined && isAppUrl(requestingUrl);
}

/** Response headers with our CSP and nosniff, replacing any spelling of them already present. */
export function withSecurityHeaders(headers: Record<string, string[]> | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!/^(content-security-policy|x-content-type-options)$/i.test(name)) out[name] = value;
  }
  out['Content-Security-Policy'] = [CONTENT_SECURITY_POLICY];
  out['X-Content-Type-Options'] = ['nosniff'];
  return out;
}

/**
 * CSP on every response, permissions denied (but the clipboard write above), nothing leaves the
 * machine. The app:// handler sets the CSP in its own Response too (window.ts): webRequest's
 * header events are not guaranteed for protocol.handle responses, so this is the second layer.
 */
export function hardenSession(ses: Session): void {
  ses.webRequest.onHeadersReceived((details, callback) => {
    // DevTools (dev builds only) brings its own policy.
    if (details.url.startsWith('devtools:')) return callback({});
    callback({ responseHeaders: withSecurityHeaders(details.responseHeaders) });
  });
  // The app is local-only: no pixel, caption or question goes over the network from a page.
  // A '*' scheme in a URL pattern matches http and https only (so app: and pa-media: pass);
  // WebSockets and every other scheme are refused by the CSP (connect-src 'self', default-src 'self').
  ses.webRequest.onBeforeRequest({ urls: ['*://*/*'] }, (_details, callback) => {
    callback({ cancel: true });
  });
  ses.setPermissionRequestHandler((_contents, permission, callback, details) =>
    callback(isAllowedPermission(permission, details.requestingUrl, details.isMainFrame)));
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin, details) =>
    isAllowedPermission(permission, details.requestingUrl ?? requestingOrigin, details.isMainFrame));
  // Device choosers (HID, serial, USB, Bluetooth) have their own handlers; without one they deny.
  ses.setDevicePermissionHandler(() => false);
  ses.on('will-download', (event) => event.preventDefault());
}

/** Guards one webContents: no page-initiated navigation (loadURL and reload are not affected), no popups, no webviews. */
export function hardenWebContents(contents: WebContents): void {
  // The renderer is a single page; every in-page route is a hash or state change, never a navigation.
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-frame-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

/** Applies hardenWebContents to every webContents ever created (devtools included), before it loads. */
export function guardAllWebContents(): void {
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents));
}
