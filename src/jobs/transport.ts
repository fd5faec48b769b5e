// How the host reaches a worker process, kept behind a small interface so the same InferenceHost
// drives a Node child process (here, the CLI and tests) or an Electron utility process (the app,
// whose utilityProcess has the same shape: pid, postMessage, 'message', 'exit', kill).
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HostMessage } from './protocol.ts';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running worker process. A factory makes a fresh one for each (re)start. */
export interface Transport {
  /** Undefined when the process could not be spawned. */
  readonly pid: number | undefined;
  /** Queues a message; false when the channel is already closed (the exit listener will run). */
  send(message: HostMessage): boolean;
  /** Messages arrive unvalidated: the host parses them against the protocol. */
  onMessage(listener: (message: unknown) => void): void;
  /** Called exactly once, when the process is gone (or failed to start). */
  onExit(listener: (exit: WorkerExit) => void): void;
  kill(signal?: NodeJS.Signals): void;
}

export type TransportFactory = () => Transport;

export interface ForkOptions {
  /** The worker entry; default src/jobs/worker-main.ts next to this file. */
  entry?: string;
  /** Default: load tsx so the .ts entry runs as is (a bundled app passes [] and a .js entry). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
}

export const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.ts', import.meta.url));

/** `--import tsx` by absolute URL: a bare "tsx" would resolve from the cwd, which the app does not control. */
function tsxImport(): string[] {
  return ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href];
}

/** Spawns worker-main.ts with child_process.fork (an IPC channel, JSON serialization). */
export function forkTransport(options: ForkOptions = {}): TransportFactory {
  return () => {
    const child = fork(options.entry ?? WORKER_ENTRY, [], {
      execArgv: options.execArgv ?? tsxImport(),
      env: options.env ?? process.env,
      // stdout is unused (logs travel as messages); stderr stays visible for native crashes.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const exitListeners: ((exit: WorkerExit) => void)[] = [];
    let exited = false;
    const exit = (e: WorkerExit): void => {
      if (exited) return;
      exited = true;
      for (const l of exitListeners) l(e);
    };
    child.once('exit', (code, signal) => exit({ code, signal }));
    // 'error' means spawn failed, a kill failed, or a send hit a closed channel; only the first
    // leaves no process behind that would ever emit 'exit'.
    child.on('error', () => {
      if (child.pid === undefined) exit({ code: null, signal: null });
    });
    return {
      get pid() {
        return child.pid;
      },
      send(message) {
        if (!child.connected) return false;
        // The callback swallows ERR_IPC_CHANNEL_CLOSED races: the exit listener reports the loss.
        return child.send(message, undefined, {}, () => {});
      },
      onMessage(listener) {
        child.on('message', listener);
      },
      onExit(listener) {
        exitListeners.push(listener);
      },
      kill(signal = 'SIGTERM') {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  };
}
