// The converter child process: converts one checkpoint (src/builder/convert.ts) and exits, so the
// CPU-heavy synchronous tensor reads and graph building never block the app's main process, and
// convertCheckpoint's SIGINT/SIGTERM handlers live in a process that exists only to convert.
// serveConversions() holds the logic over a small port: run as a Node child (converter-host.ts →
// forkTransport) this file wires its IPC channel; the Electron utility-process entry
// (electron/convert-entry.ts) imports it and wires process.parentPort instead.
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCheckpoint } from '../builder/convert.ts';
import { toErrorData } from '../shared/errors.ts';
import { ConvertHostMessageSchema, type ConvertRequest, type ConvertWorkerMessage } from './convert-protocol.ts';
import { describeIssues, salvageId } from './protocol.ts';

/** How the child talks to its host (a fork IPC channel or an Electron parentPort). */
export interface ConvertPort {
  post(message: ConvertWorkerMessage): void;
  onMessage(listener: (raw: unknown) => void): void;
  /** Resolves once every posted message has left the process (exit comes after it). */
  flushed(): Promise<void>;
}

/** Answers one `convert` (then exits 0), or a `cancel` (exits 130 without a temp folder left). */
export function serveConversions(port: ConvertPort): void {
  let running: string | undefined;
  port.onMessage((raw) => {
    const parsed = ConvertHostMessageSchema.safeParse(raw);
    if (!parsed.success) {
      return port.post({ type: 'error', id: salvageId(raw), error: { code: 'invalid_argument', message: `invalid converter message: ${describeIssues(parsed.error)}` } });
    }
    const msg = parsed.data;
    if (msg.type === 'cancel') {
      if (running === undefined || msg.id === running) abandonConversion();
      return port.post({ type: 'error', id: msg.id, error: { code: 'invalid_argument', message: `no conversion ${msg.id} is running here` } });
    }
    if (running !== undefined) {
      return port.post({ type: 'error', id: msg.id, error: { code: 'invalid_argument', message: 'a converter process runs one conversion only' } });
    }
    running = msg.id;
    void convert(port, msg).then(() => port.flushed()).then(() => process.exit(0));
  });
  port.post({ type: 'ready', pid: process.pid });
}

/**
 * Stops at once. While converting, convertCheckpoint's SIGTERM handler (handleSignals) removes its
 * temp folder and exits 130; before it is installed no temp folder exists. Emitting the event runs
 * that handler on every platform (Windows has no catchable SIGTERM; the host sends `cancel` there).
 */
export function abandonConversion(): never {
  if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
  process.exit(130);
}

async function convert(port: ConvertPort, req: ConvertRequest): Promise<void> {
  try {
    const m = await convertCheckpoint(req.checkpointDir, req.outDir, {
      quant: req.weights,
      ...(req.blockSize !== undefined ? { blockSize: req.blockSize } : {}),
      handleSignals: true,
      onProgress: (e) => port.post({ type: 'progress', id: req.id, stage: e.stage, ...(e.part ? { part: e.part } : {}) }),
    });
    const files = Object.values(m.files);
    port.post({
      type: 'result', id: req.id, dir: resolve(req.outDir),
      manifest: {
        kind: m.kind, architecture: m.architecture, weights: m.quantization.weights,
        files: files.length, bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      },
    });
  } catch (err) {
    port.post({ type: 'error', id: req.id, error: toErrorData(err) });
  }
}

/** The fork IPC channel as a port; `flushed` is the last send's completion (sends keep their order). */
function nodePort(send: NonNullable<typeof process.send>): ConvertPort {
  let last: Promise<void> = Promise.resolve();
  return {
    post(message) {
      if (!process.connected) return;
      last = new Promise((done) => { send(message, undefined, {}, () => done()); });
    },
    onMessage(listener) {
      process.on('message', listener);
    },
    flushed: () => last,
  };
}

/** True when Node runs this file as the process's entry (not when the Electron entry imports it). */
function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write(`[converter ${process.pid}] must be started with an IPC channel (child_process.fork)\n`);
    process.exit(2);
  }
  // The host is gone: an orphaned conversion would run for minutes and leave its temp folder.
  process.on('disconnect', () => abandonConversion());
  process.on('uncaughtException', (err) => {
    process.stderr.write(`[converter ${process.pid}] uncaught: ${err.stack ?? err.message}\n`);
    process.exit(70);
  });
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`[converter ${process.pid}] unhandled rejection: ${String((reason as Error)?.stack ?? reason)}\n`);
    process.exit(70);
  });
  serveConversions(nodePort(send));
}
