// The Electron main process: the composition root and nothing more. It takes the single-instance
// lock, registers the app:// (renderer) and pa-media:// (photos by catalog id) protocols, opens the
// library service (AppService: watcher, catalog, queue, the inference worker in a utility process),
// wires IPC and the menu, and closes the service before the app exits. The logic lives in
// app-service.ts / ipc-handlers.ts / media.ts, which do not import Electron and are tested in Node.
//
// Runs only bundled as CommonJS (electron/build.ts → electron/dist/main.cjs), hence __dirname.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BrowserWindow, Menu, app, dialog, protocol, safeStorage, session, shell } from 'electron';
import { toErrorData } from '../../src/shared/errors.ts';
import { type AppCommand, MEDIA_SCHEME, type ResultMap, ipcChannel, ipcEvent } from '../../src/shared/ipc-contract.ts';
import { AppService } from './app-service.ts';
import type { SecretBox } from './hub-token.ts';
import { type Dispatch, createDispatcher } from './ipc-handlers.ts';
import { forwardEvents, registerIpc } from './ipc-register.ts';
import { type LogFile, openLogFile } from './log-file.ts';
import { mediaResponse } from './media.ts';
import { buildAppMenu } from './menu.ts';
import { guardAllWebContents, hardenSession, mediaRequestRefusal, registerPrivilegedSchemes } from './security.ts';
import { utilityTransport } from './utility-transport.ts';
import { createMainWindow, focusWindow, registerRendererProtocol } from './window.ts';

const APP_NAME = 'Photo Assistant';
const DIST_DIR = __dirname;
const ROOT_DIR = join(DIST_DIR, '..', '..');
const PATHS = {
  preload: join(DIST_DIR, 'preload.cjs'),
  worker: join(DIST_DIR, 'worker.cjs'),
  convert: join(DIST_DIR, 'convert.cjs'),
  renderer: join(ROOT_DIR, 'renderer', 'dist'),
  icon: join(ROOT_DIR, 'assets', 'icons', 'icon.png'),
};
const DEV = !app.isPackaged;
/** Quitting waits this long for the library to close (queue, watcher, workers), then exits anyway. */
const CLOSE_TIMEOUT_MS = 30_000;

let mainWindow: BrowserWindow | null = null;
const getWindow = (): BrowserWindow | null => (mainWindow && !mainWindow.isDestroyed() ? mainWindow : null);

/** The rotating log file in the user's log folder, opened once the app's paths are set. */
let logFile: LogFile | undefined;

/** Main's lines, and the workers' (utility-transport pipes their output here): stderr and the log file. */
function log(message: string): void {
  const line = message.startsWith('[') ? message : `[main ${process.pid}] ${message}`;
  process.stderr.write(`${line}\n`);
  logFile?.write(line);
}

let failed = false;
function fatal(title: string, err: unknown): void {
  if (failed) return;
  failed = true;
  const message = err instanceof Error ? err.message : String(err);
  log(`${title}: ${message}`);
  dialog.showErrorBox(title, message);
  app.exit(1);
}

app.setName(APP_NAME);
// One settings/catalog folder per user whatever the package name ("Photo Assistant", not "photo-assistant").
app.setPath('userData', join(app.getPath('appData'), APP_NAME));
try {
  logFile = openLogFile(app.getPath('logs'));
} catch (err) {
  process.stderr.write(`[main ${process.pid}] no log file: ${(err as Error).message}\n`);
}
app.enableSandbox();

if (!app.requestSingleInstanceLock()) {
  // Another instance owns the catalog: it gets focused (its 'second-instance'), we leave.
  app.quit();
} else {
  app.on('second-instance', () => {
    const win = getWindow();
    if (win) focusWindow(win);
  });
  registerPrivilegedSchemes();
  guardAllWebContents();
  app.whenReady().then(start).catch((err: unknown) => fatal('Photo Assistant could not start', err));
}

async function start(): Promise<void> {
  if (!existsSync(join(PATHS.renderer, 'index.html'))) {
    return fatal('The interface is not built', new Error(`${PATHS.renderer} has no index.html: run \`npm run build\` first.`));
  }
  hardenSession(session.defaultSession);
  registerRendererProtocol(PATHS.renderer);

  // The window appears at once; calls made before the service is open wait for it.
  const opening = AppService.open({
    userDataDir: app.getPath('userData'),
    transport: utilityTransport(PATHS.worker, { log }),
    // Each conversion or download in its own utility process: the checkpoint reads never block this
    // process, and only that process ever talks to the Hugging Face Hub.
    convertTransport: utilityTransport(PATHS.convert, { log, serviceName: 'Photo Assistant model converter', logLabel: 'converter' }),
    secrets: safeStorageBox(),
    pickDirectory: async (title) => {
      const win = getWindow();
      const options = { title, properties: ['openDirectory', 'createDirectory'] as ('openDirectory' | 'createDirectory')[] };
      const r = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
      return r.canceled ? null : (r.filePaths[0] ?? null);
    },
    revealPath: (path) => {
      shell.showItemInFolder(path);
      return true;
    },
    // Never photo contents or prompts above debug (the service's rule); info only in development.
    log: (level, message) => {
      if (level === 'warn' || level === 'error' || (DEV && level === 'info')) log(`${level}: ${message}`);
    },
  });
  opening.catch((err) => fatal('Photo Assistant could not open its library', err));

  // Quitting closes the service first (stops the watcher, lets the queue finish its transaction,
  // shuts the utility processes down); app.exit then skips 'before-quit', so this runs once. A
  // close that hangs does not keep the app alive: after CLOSE_TIMEOUT_MS it exits regardless
  // (SQLite's WAL keeps the catalog consistent; Electron ends its utility processes with it).
  let closing: Promise<void> | null = null;
  app.on('before-quit', (event) => {
    event.preventDefault();
    closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        log(`closing the library took over ${CLOSE_TIMEOUT_MS / 1000} s: quitting anyway`);
        resolve();
      }, CLOSE_TIMEOUT_MS);
      opening
        .then((service) => service.close())
        .catch((err) => log(`closing the library failed: ${(err as Error).message}`))
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    }).then(() => app.exit(0));
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => app.quit());

  const dispatching = opening.then((service) => createDispatcher(service));
  dispatching.catch(() => {}); // a failed open is reported once, by fatal()
  const dispatch: Dispatch = async (channel, raw) => {
    try {
      return await (await dispatching)(channel, raw);
    } catch (err) {
      return { ok: false, error: toErrorData(err) };
    }
  };

  registerIpc(dispatch, getWindow);
  protocol.handle(MEDIA_SCHEME, async (request) => {
    // Only GET/HEAD of pa-media://media/…, and only from our renderer (security.ts).
    const refused = mediaRequestRefusal(request);
    if (refused) return refused;
    let service: AppService;
    try {
      service = await opening;
    } catch {
      return new Response(null, { status: 503 });
    }
    const response = await mediaResponse(service, request.url);
    return request.method === 'HEAD' ? new Response(null, { status: response.status, headers: response.headers }) : response;
  });

  Menu.setApplicationMenu(buildAppMenu({
    addFolder: () => void addFolderFromMenu(dispatch),
    openSettings: () => sendCommand('open-settings'),
    openQueue: () => sendCommand('open-queue'),
    focusSearch: () => sendCommand('focus-search'),
    showAbout: () => void showAbout(),
    showPrivacy: () => void showPrivacy(),
    showLogs: () => void shell.openPath(logFile?.dir ?? app.getPath('logs')),
  }, { dev: DEV, appName: APP_NAME }));

  openWindow();
  app.on('activate', () => {
    if (!getWindow()) openWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  forwardEvents(await opening, getWindow);
}

/**
 * The Hub token's encryption: Electron's safeStorage (Keychain, DPAPI, libsecret/KWallet). On Linux
 * without a keyring safeStorage falls back to 'basic_text', a fixed key: that is not encryption, so
 * the token is not stored there (the CLI's HF_TOKEN remains).
 */
function safeStorageBox(): SecretBox {
  return {
    available: async () => {
      if (!(await safeStorage.isAsyncEncryptionAvailable())) return false;
      return process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text';
    },
    encrypt: async (plain) => new Uint8Array(await safeStorage.encryptStringAsync(plain)),
    decrypt: async (sealed) => (await safeStorage.decryptStringAsync(Buffer.from(sealed))).result,
  };
}

/** Menu → window: focuses it and asks the renderer to show a view (the 'app:command' event). */
function sendCommand(command: AppCommand): void {
  const win = getWindow();
  if (!win || win.isDestroyed()) return;
  focusWindow(win);
  win.webContents.send(ipcEvent('app:command'), { command });
}

function openWindow(): void {
  const win = createMainWindow({ preload: PATHS.preload, icon: existsSync(PATHS.icon) ? PATHS.icon : undefined, dev: DEV, onLoadError: log });
  let crashes = 0;
  win.webContents.on('render-process-gone', (_event, details) => {
    log(`the window's renderer is gone: ${details.reason} (exit code ${details.exitCode})`);
    // A crashed page is reloaded a few times; after that the window stays as it is.
    if (details.reason !== 'clean-exit' && !win.isDestroyed() && ++crashes <= 3) win.reload();
  });
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  mainWindow = win;
}

async function addFolderFromMenu(dispatch: Dispatch): Promise<void> {
  const picked = await dispatch(ipcChannel('pickDirectory'), { title: 'Add a folder of photos' });
  const path = picked.ok ? (picked.data as ResultMap['pickDirectory']).path : null;
  if (!path) return;
  // The service announces the new folder ('library:changed'); the window refreshes itself.
  const added = await dispatch(ipcChannel('addFolder'), { path });
  if (!added.ok) dialog.showErrorBox('Could not add the folder', added.error.message);
}

async function showAbout(): Promise<void> {
  const detail = [
    `Version ${app.getVersion()}`,
    `Electron ${process.versions.electron}, Chromium ${process.versions.chrome}, Node ${process.versions.node}`,
    'BLIP-2 on ONNX Runtime, on this computer.',
  ].join('\n');
  const win = getWindow();
  const options = { type: 'info' as const, title: `About ${APP_NAME}`, message: APP_NAME, detail, buttons: ['OK'] };
  if (win) await dialog.showMessageBox(win, options);
  else await dialog.showMessageBox(options);
}

async function showPrivacy(): Promise<void> {
  const detail = [
    'Everything runs on this computer: the model reads your photos here, and captions, tags and',
    'search data are stored in your library (and, if you choose, in XMP sidecars next to the photos).',
    'The app connects to the Internet only to download a model you asked for, from the Hugging Face Hub',
    '(or the mirror set in Settings → Models); its window is not allowed to reach the network at all.',
    'Your original photos are never modified.',
  ].join('\n');
  const win = getWindow();
  const options = { type: 'info' as const, title: 'Privacy', message: 'Your photos stay on your computer', detail, buttons: ['OK'] };
  if (win) await dialog.showMessageBox(win, options);
  else await dialog.showMessageBox(options);
}
