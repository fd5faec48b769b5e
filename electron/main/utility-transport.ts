// The app's second Transport (the first is forkTransport for the CLI): the inference worker runs in
// an Electron utility process, so ONNX Runtime's memory and any native crash stay out of the main
// process. InferenceHost drives it exactly as it drives a Node child (restart on crash, retry).
// Utility processes report only an exit code; a V8 fatal error arrives first as 'error' and is logged.
import { utilityProcess, type UtilityProcess } from 'electron';
import type { HostMessage } from '../../src/jobs/protocol.ts';
import type { Transport, TransportFactory, WorkerExit } from '../../src/jobs/transport.ts';

export interface UtilityTransportOptions {
  /** Where the worker's stderr/stdout lines and crash reasons go (each prefixed with the pid). */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Process name shown by the OS task manager and the log prefix (default: the inference worker). */
  serviceName?: string;
  logLabel?: string;
}

export const WORKER_SERVICE_NAME = 'Photo Assistant inference';

/** A factory of utility processes running `entry` (the bundled electron/dist/worker.cjs). */
export function utilityTransport(entry: string, options: UtilityTransportOptions = {}): TransportFactory {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  return () => {
    const exitListeners: ((exit: WorkerExit) => void)[] = [];
    let exited: WorkerExit | null = null;
    const exit = (e: WorkerExit): void => {
      if (exited) return;
      exited = e;
      for (const l of exitListeners.splice(0)) l(e);
    };
    // Transport's contract: every exit listener runs once, also one added after the exit (a
    // shutdown() that starts after a crash must not wait out its timeout for an exit already past).
    const onExit = (listener: (exit: WorkerExit) => void): void => {
      const gone = exited;
      if (gone) setImmediate(() => listener(gone));
      else exitListeners.push(listener);
    };

    let child: UtilityProcess;
    try {
      child = utilityProcess.fork(entry, [], {
        serviceName: options.serviceName ?? WORKER_SERVICE_NAME,
        stdio: 'pipe',
        env: options.env ?? process.env,
      });
    } catch (err) {
      log(`[${options.logLabel ?? 'inference-worker'} ?] could not start: ${(err as Error).message}`);
      // Exit asynchronously, as a real process would: the host registers its listener after the factory returns.
      setImmediate(() => exit({ code: null, signal: null }));
      return {
        pid: undefined,
        send: () => false,
        onMessage: () => {},
        onExit,
        kill: () => {},
      } satisfies Transport;
    }

    // child.pid is undefined before 'spawn' and again after 'exit'; the host logs the pid of a dead worker.
    let pid: number | undefined = child.pid;
    child.once('spawn', () => { pid = child.pid; });
    const prefix = (): string => `[${options.logLabel ?? 'inference-worker'} ${pid ?? '?'}]`;
    pipeLines(child.stdout, (line) => log(`${prefix()} ${line}`));
    pipeLines(child.stderr, (line) => log(`${prefix()} ${line}`));
    child.on('error', (type, location) => log(`${prefix()} ${type} at ${location}`));
    child.once('exit', (code) => exit({ code, signal: null }));

    return {
      get pid() {
        return pid ?? child.pid;
      },
      send(message: HostMessage) {
        if (exited) return false;
        // postMessage uses structured clone: the protocol's plain objects cross unchanged. A process
        // on its way out may refuse; its 'exit' follows, and the host learns of the loss from that.
        try {
          child.postMessage(message);
          return true;
        } catch {
          return false;
        }
      },
      onMessage(listener) {
        child.on('message', listener);
      },
      onExit,
      kill(signal = 'SIGTERM') {
        if (exited) return;
        // UtilityProcess.kill() is always a graceful SIGTERM; the host's SIGKILL after a timeout must be real.
        const p = child.pid;
        if (signal === 'SIGKILL' && p !== undefined) {
          try {
            process.kill(p, 'SIGKILL');
            return;
          } catch {
            // already gone, or not permitted: fall back to the graceful kill
          }
        }
        child.kill();
      },
    } satisfies Transport;
  };
}

function pipeLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(line);
  });
  stream.on('end', () => {
    if (buffered.trim()) onLine(buffered);
  });
}
