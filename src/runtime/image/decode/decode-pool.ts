// Runs the wasm decoders (HEIF, JPEG XL, LibRaw) on one worker thread, so that the app's main process (thumbnails, the
// photo view, scanning) never blocks for the second a 12-megapixel HEIC takes. One thread: the
// machine's cores belong to inference. The worker exits after a quiet minute, returning the wasm
// heap (which only grows) to the system. From the sources (tsx) the worker is decode-worker.ts; in
// the Electron app it is the decode-worker.cjs bundle beside the caller's bundle. Where neither is on
// disk the decode runs in the calling thread instead.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RgbImage } from '../pil-resize.ts';
import { decodeHeifBytes, HeifDecodeError } from './heif.ts';
import { decodeJxlBytes } from './jxl.ts';
import { decodeRawBytes } from './libraw.ts';

const WORKER_FILE = fileURLToPath(new URL('./decode-worker.ts', import.meta.url));
/** In the Electron app (a CommonJS bundle), the worker is its own bundle beside this one
 *  (electron/build.ts), unpacked from the asar: a worker thread reads a real file. */
const BUNDLED_WORKER = typeof __dirname === 'string' ? join(__dirname.replace(/\.asar([\\/]|$)/, '.asar.unpacked$1'), 'decode-worker.cjs') : undefined;
const IDLE_MS = 60_000;

interface Pending { resolve: (img: RgbImage) => void; reject: (err: Error) => void }

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();
let idleTimer: NodeJS.Timeout | undefined;

/** Which worker file exists, looked up once (the files do not come and go while the app runs). */
let workerKind: 'bundled' | 'source' | 'none' | undefined;
function haveWorker(): boolean {
  workerKind ??= BUNDLED_WORKER !== undefined && existsSync(BUNDLED_WORKER) ? 'bundled' : existsSync(WORKER_FILE) ? 'source' : 'none';
  return workerKind !== 'none';
}

function startWorker(): Worker {
  const w = workerKind === 'bundled' ? new Worker(BUNDLED_WORKER!) : startSourceWorker();
  w.on('message', (m: { id: number; ok: boolean; data?: Uint8Array; width?: number; height?: number; message?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve({ data: m.data!, width: m.width!, height: m.height! });
    else p.reject(new HeifDecodeError(m.message ?? 'the decoder failed'));
    scheduleIdle();
  });
  const fail = (err: Error) => {
    for (const p of pending.values()) p.reject(new HeifDecodeError(`the decoder thread stopped: ${err.message}`));
    pending.clear();
    if (worker === w) worker = undefined;
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  return w;
}

function startSourceWorker(): Worker {
  // Node 20 does not carry `--import tsx` into worker threads: the worker registers tsx itself
  // (by absolute URL, like src/jobs/transport.ts), then loads the .ts entry.
  // tsx's ESM API module (the package's `import` condition for tsx/esm/api; require.resolve would
  // give the CommonJS twin, which cannot register hooks from here).
  const tsxDir = dirname(createRequire(WORKER_FILE).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const bootstrap =
    "const { workerData } = require('node:worker_threads');" +
    'import(workerData.tsxApi).then((m) => { m.register(); return import(workerData.entry); });';
  return new Worker(bootstrap, { eval: true, workerData: { tsxApi, entry: pathToFileURL(WORKER_FILE).href } });
}

function scheduleIdle(): void {
  clearTimeout(idleTimer);
  if (pending.size > 0) return;
  worker?.unref(); // an idle decoder thread never keeps the process alive
  idleTimer = setTimeout(() => { void worker?.terminate(); worker = undefined; }, IDLE_MS);
  idleTimer.unref();
}

/** Decodes a HEIF's primary image to 8-bit RGB on the decoder thread (or here, without one). */
export function decodeHeifOffThread(bytes: Uint8Array, maxPixels = Infinity): Promise<RgbImage> {
  return decodeOffThread('heif', bytes, maxPixels);
}

/** Decodes a JPEG XL to 8-bit RGB on the decoder thread (or here, without one). */
export function decodeJxlOffThread(bytes: Uint8Array, maxPixels = Infinity): Promise<RgbImage> {
  return decodeOffThread('jxl', bytes, maxPixels);
}

/** Demosaics a RAW file's sensor data to upright 8-bit RGB on the decoder thread (or here, without one). */
export function decodeRawOffThread(bytes: Uint8Array, maxPixels = Infinity): Promise<RgbImage> {
  return decodeOffThread('raw', bytes, maxPixels);
}

export type DecodeKind = 'heif' | 'jxl' | 'raw';
export const DECODERS: Record<DecodeKind, (bytes: Uint8Array, maxPixels: number) => Promise<RgbImage>> = {
  heif: decodeHeifBytes, jxl: decodeJxlBytes, raw: decodeRawBytes,
};

function decodeOffThread(kind: DecodeKind, bytes: Uint8Array, maxPixels: number): Promise<RgbImage> {
  if (!haveWorker()) return DECODERS[kind](bytes, maxPixels);
  clearTimeout(idleTimer);
  worker ??= startWorker();
  worker.ref(); // a pending decode does
  const id = nextId++;
  const copy = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  return new Promise<RgbImage>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker!.postMessage({ id, kind, bytes: copy, maxPixels }, [copy.buffer as ArrayBuffer]);
  });
}

/** Stops the decoder thread now (tests, shutdown). */
export async function stopDecodeThread(): Promise<void> {
  clearTimeout(idleTimer);
  const w = worker;
  worker = undefined;
  await w?.terminate();
}
