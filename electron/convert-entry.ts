// Entry of the model converter as an Electron utility process (bundled to electron/dist/convert.cjs,
// forked per conversion through electron/main/utility-transport.ts). The twin of the Node wiring in
// src/jobs/convert-worker-main.ts: it only connects process.parentPort to serveConversions.
import { serveConversions } from '../src/jobs/convert-worker-main.ts';

// Typed through electron's NodeJS.Process augmentation, but null outside a utility process.
const port = process.parentPort as Electron.ParentPort | null | undefined;
if (!port) {
  process.stderr.write(`[converter ${process.pid}] must be started as an Electron utility process\n`);
  process.exit(2);
}

// Last resort: report and die; the host reports the crash and the next run removes the temp folder.
process.on('uncaughtException', (err) => {
  process.stderr.write(`[converter ${process.pid}] uncaught: ${err.stack ?? err.message}\n`);
  process.exit(70);
});
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`[converter ${process.pid}] unhandled rejection: ${String((reason as Error)?.stack ?? reason)}\n`);
  process.exit(70);
});

serveConversions({
  post: (message) => port!.postMessage(message),
  onMessage: (listener) => port!.on('message', (event) => listener(event.data)),
  // postMessage has no completion callback: one turn of the loop lets the last messages leave.
  flushed: () => new Promise((resolve) => setImmediate(resolve)),
});
