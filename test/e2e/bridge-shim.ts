// What the e2e harness installs as the page's preload: window.photoAssistant built by the contract's
// own buildBridge (as electron/preload.ts does), with invoke going to the harness's real dispatcher
// through a Playwright binding and events arriving through window.__paEmit. Bundled by esbuild into
// an IIFE and added as an init script; the harness sets globalThis.__paMediaBase first.
import { buildBridge } from '../../src/shared/ipc-contract.ts';

interface HarnessGlobals {
  __paMediaBase: string;
  /** Exposed by page.exposeBinding: the main process's dispatcher. */
  __paInvoke: (channel: string, arg: unknown) => Promise<unknown>;
  /** Called by the harness with the IPC event name ('pa-event:queue:status') and its payload. */
  __paEmit?: (event: string, payload: unknown) => void;
  photoAssistant?: unknown;
}

const g = globalThis as unknown as HarnessGlobals;
const listeners = new Map<string, Set<(payload: unknown) => void>>();

g.__paEmit = (event, payload) => {
  for (const l of [...(listeners.get(event) ?? [])]) {
    try {
      l(payload);
    } catch (err) {
      console.error(`listener of ${event} failed`, err);
    }
  }
};

const subscribe = (event: string, listener: (payload: unknown) => void): (() => void) => {
  let set = listeners.get(event);
  if (!set) listeners.set(event, (set = new Set()));
  set.add(listener);
  return () => void set.delete(listener);
};

// Arguments cross as JSON in Electron too (structured clone of plain data): strip what would not.
const invoke = (channel: string, arg: unknown): Promise<unknown> => g.__paInvoke(channel, arg === undefined ? undefined : JSON.parse(JSON.stringify(arg)));

// contextBridge hands the page a frozen copy; freezing keeps the page from swapping methods here too.
Object.defineProperty(g, 'photoAssistant', { value: Object.freeze(buildBridge(invoke, subscribe, g.__paMediaBase)), writable: false, configurable: false });
