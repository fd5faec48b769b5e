// The converter child process: converts one checkpoint (src/builder/convert.ts), or pulls one model
// from the Hugging Face Hub converting while it downloads (src/models/pull.ts), or plans such a pull,
// and exits. So the CPU-heavy synchronous tensor reads and graph building never block the app's main
// process, every request to the Hub comes from this process alone, and convertCheckpoint's
// SIGINT/SIGTERM handlers live in a process that exists only to convert.
// serveConversions() holds the logic over a small port: run as a Node child (converter-host.ts →
// forkTransport) this file wires its IPC channel; the Electron utility-process entry
// (electron/convert-entry.ts) imports it and wires process.parentPort instead.
import { realpathSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCheckpoint } from '../builder/convert.ts';
import { HubClient } from '../hub/hub-client.ts';
import { type PullOptions, planPull, pullModel } from '../models/pull.ts';
import type { PullProgress } from '../models/transfer-progress.ts';
import { AppError, toErrorData } from '../shared/errors.ts';
import { modelLabel } from '../shared/model-manifest.ts';
import {
  ConvertHostMessageSchema, type ConvertRequest, type ConvertWorkerMessage, type PlanPullRequest, type PullProgressMessage, type PullRequest,
} from './convert-protocol.ts';
import { describeIssues, salvageId } from './protocol.ts';

/** How the child talks to its host (a fork IPC channel or an Electron parentPort). */
export interface ConvertPort {
  post(message: ConvertWorkerMessage): void;
  onMessage(listener: (raw: unknown) => void): void;
  /** Resolves once every posted message has left the process (exit comes after it). */
  flushed(): Promise<void>;
}

/**
 * Answers one request, then exits 0. A `cancel` stops a conversion at once (exit 130, no temp folder
 * left); it stops a pull or a plan through its AbortSignal, so the pull's journal and work folder are
 * left consistent for the next pull to resume, and the answer is a 'cancelled' error.
 */
export function serveConversions(port: ConvertPort): void {
  let running: { id: string; abort?: AbortController } | undefined;
  port.onMessage((raw) => {
    const parsed = ConvertHostMessageSchema.safeParse(raw);
    if (!parsed.success) {
      return port.post({ type: 'error', id: salvageId(raw), error: { code: 'invalid_argument', message: `invalid converter message: ${describeIssues(parsed.error)}` } });
    }
    const msg = parsed.data;
    if (msg.type === 'cancel') {
      if (running?.abort && msg.id === running.id) return running.abort.abort();
      if (running === undefined || msg.id === running.id) abandonConversion();
      return port.post({ type: 'error', id: msg.id, error: { code: 'invalid_argument', message: `no conversion ${msg.id} is running here` } });
    }
    if (running !== undefined) {
      return port.post({ type: 'error', id: msg.id, error: { code: 'invalid_argument', message: 'a converter process runs one conversion only' } });
    }
    if (msg.type === 'convert') {
      running = { id: msg.id };
      void convert(port, msg).then(() => port.flushed()).then(() => process.exit(0));
      return;
    }
    const abort = new AbortController();
    running = { id: msg.id, abort };
    // SIGTERM (the host's fallback when `cancel` cannot be delivered) cancels the same way.
    process.once('SIGTERM', () => abort.abort());
    const job = msg.type === 'pull' ? pull(port, msg, abort.signal) : plan(port, msg, abort.signal);
    void job.then(() => port.flushed()).then(() => process.exit(0));
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

/** The Hub client and pull options of a request (the endpoint and token come from the app). */
function hubOptions(req: PullRequest | PlanPullRequest, signal: AbortSignal): PullOptions {
  return {
    hub: new HubClient({ endpoint: req.endpoint, ...(req.token ? { token: req.token } : {}) }),
    modelsDir: req.modelsDir,
    signal,
    ...(req.revision ? { revision: req.revision } : {}),
    ...(req.quant ? { quant: req.quant } : {}),
  };
}

async function pull(port: ConvertPort, req: PullRequest, signal: AbortSignal): Promise<void> {
  let opts: PullOptions | undefined;
  try {
    opts = hubOptions(req, signal);
    const r = await pullModel(req.ref, { ...opts, onProgress: (p) => port.post({ type: 'pull-progress', id: req.id, progress: progressMessage(p) }) });
    const files = Object.values(r.manifest.files);
    port.post({
      type: 'pulled', id: req.id,
      result: {
        dir: resolve(r.dir), label: modelLabel(r.manifest, basename(r.dir)), kind: r.manifest.kind, weights: r.manifest.quantization.weights,
        repo: r.manifest.source.repo ?? '', commit: r.manifest.source.commit ?? '', bytes: files.reduce((a, f) => a + f.bytes, 0),
        downloadedBytes: r.downloadedBytes, resumed: r.resumed, alreadyPresent: r.alreadyPresent,
      },
    });
  } catch (err) {
    port.post({ type: 'error', id: req.id, error: signal.aborted ? cancelledData() : toErrorData(err) });
  } finally {
    await opts?.hub.close();
  }
}

async function plan(port: ConvertPort, req: PlanPullRequest, signal: AbortSignal): Promise<void> {
  let opts: PullOptions | undefined;
  try {
    opts = hubOptions(req, signal);
    port.post({ type: 'plan', id: req.id, plan: await planPull(req.ref, opts) });
  } catch (err) {
    port.post({ type: 'error', id: req.id, error: signal.aborted ? cancelledData() : toErrorData(err) });
  } finally {
    await opts?.hub.close();
  }
}

/** Only the protocol's fields (the core may add some; the host validates strictly). */
function progressMessage(p: PullProgress): PullProgressMessage {
  return {
    stage: p.stage, repo: p.repo, ...(p.file ? { file: p.file } : {}), bytesDone: Math.max(0, Math.round(p.bytesDone)),
    bytesTotal: Math.max(0, Math.round(p.bytesTotal)), rate: Math.max(0, p.rate), etaSeconds: p.etaSeconds === null ? null : Math.max(0, p.etaSeconds),
    ...(p.resumed !== undefined ? { resumed: p.resumed } : {}),
  };
}

function cancelledData() {
  return new AppError('cancelled', 'the download was cancelled; it resumes where it stopped next time').toData();
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
