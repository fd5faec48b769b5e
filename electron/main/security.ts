// The renderer is treated as untrusted: this module holds the origin it is served from, the CSP,
// and the guards every webContents gets (no navigation, no new windows, no webviews, no permissions,
// no network). ipc-register.ts asks isTrustedSender() before any call reaches the core.
import {
  type IpcMainInvokeEvent, type Session, type WebContents, BrowserWindow, app, protocol,
} from 'electron';
import { MEDIA_SCHEME } from '../../src/shared/ipc-contract.ts';
import { contentSecurityPolicy } from './csp.ts';

/** The built renderer is served from app://renderer/ (window.ts), never from file://. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'renderer';
export const APP_ENTRY_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

export const CONTENT_SECURITY_POLICY = contentSecurityPolicy(`${MEDIA_SCHEME}:`);

/** Must run before app 'ready': schemes gain their privileges only then. */
export function registerPrivilegedSchemes(): void {
  protocol.registerSchemesAsPrivileged([
    // standard + secure: a real origin ('self' in the CSP), relative URLs, and no mixed-content downgrade.
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
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
 * from another window, an iframe, or a page that somehow navigated elsewhere.
 */
export function isTrustedSender(event: IpcMainInvokeEvent, mainWindow: BrowserWindow | null): boolean {
  if (!mainWindow || mainWindow.isDestroyed()) return false;
  if (BrowserWindow.fromWebContents(event.sender) !== mainWindow) return false;
  const frame = event.senderFrame;
  if (!frame || frame.parent !== null) return false;
  return isAppUrl(frame.url);
}

/** CSP on every response, all permission requests denied, and nothing leaves the machine. */
export function hardenSession(ses: Session): void {
  ses.webRequest.onHeadersReceived((details, callback) => {
    // DevTools (dev builds only) brings its own policy.
    if (details.url.startsWith('devtools:')) return callback({});
    callback({
      responseHeaders: {
        ...details.responseHeaders,
        'Content-Security-Policy': [CONTENT_SECURITY_POLICY],
        'X-Content-Type-Options': ['nosniff'],
      },
    });
  });
  // The app is local-only: no pixel, caption or question goes over the network from a page.
  // '*://' covers the web schemes (http, https, ws, wss); app: and pa-media: are not matched.
  ses.webRequest.onBeforeRequest({ urls: ['*://*/*'] }, (_details, callback) => {
    callback({ cancel: true });
  });
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
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
