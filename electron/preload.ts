// The preload: exposes exactly the contract's typed API (src/shared/ipc-contract.ts) as
// window.photoAssistant, one method per call plus `on` and `mediaUrl`. Nothing generic (no raw
// send/invoke, no ipcRenderer) crosses into the page. It runs sandboxed, where only 'electron' and a
// few builtins can be required, so electron/build.ts bundles it with the contract into preload.cjs.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { MEDIA_SCHEME, buildBridge } from '../src/shared/ipc-contract.ts';

const bridge = buildBridge(
  (channel, arg) => ipcRenderer.invoke(channel, arg),
  (event, listener) => {
    // The page never sees the IpcRendererEvent (it carries the sender).
    const handler = (_e: IpcRendererEvent, payload: unknown): void => listener(payload);
    ipcRenderer.on(event, handler);
    return () => {
      ipcRenderer.removeListener(event, handler);
    };
  },
  // pa-media://media/thumb/12: security.ts's MEDIA_BASE, the only host main serves (shell.test.ts checks they agree).
  `${MEDIA_SCHEME}://media/`,
);

contextBridge.exposeInMainWorld('photoAssistant', bridge);
