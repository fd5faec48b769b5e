// Wires the contract's channels to ipcMain and the service's events to the window. Every call is
// checked for its sender (security.ts) before the dispatcher (ipc-handlers.ts) validates its
// argument against the contract and only then reaches the core. Events go to the main window only.
import { type BrowserWindow, ipcMain } from 'electron';
import { CHANNELS, EVENTS, type EventMap, type EventName, type IpcResult, ipcChannel, ipcEvent } from '../../src/shared/ipc-contract.ts';
import type { AppService } from './app-service.ts';
import type { Dispatch } from './ipc-handlers.ts';
import { isTrustedSender } from './security.ts';

const UNKNOWN_SENDER: IpcResult<never> = { ok: false, error: { code: 'invalid_argument', message: 'unknown sender' } };

/** Registers one handler per contract channel; returns a function that removes them all. */
export function registerIpc(dispatch: Dispatch, getWindow: () => BrowserWindow | null): () => void {
  for (const c of CHANNELS) {
    const channel = ipcChannel(c);
    ipcMain.handle(channel, (event, arg: unknown) => {
      if (!isTrustedSender(event, getWindow())) return UNKNOWN_SENDER;
      return dispatch(channel, arg);
    });
  }
  return () => {
    for (const c of CHANNELS) ipcMain.removeHandler(ipcChannel(c));
  };
}

/** Forwards every contract event of the service to the main window; returns the unsubscriber. */
export function forwardEvents(service: Pick<AppService, 'on'>, getWindow: () => BrowserWindow | null): () => void {
  const offs = EVENTS.map((e) => subscribe(service, e, getWindow));
  return () => {
    for (const off of offs) off();
  };
}

function subscribe<E extends EventName>(service: Pick<AppService, 'on'>, event: E, getWindow: () => BrowserWindow | null): () => void {
  return service.on(event, (payload: EventMap[E]) => {
    const win = getWindow();
    if (win && !win.isDestroyed() && !win.webContents.isDestroyed()) win.webContents.send(ipcEvent(event), payload);
  });
}
