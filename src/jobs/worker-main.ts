// Entry of the inference worker as a Node child process (forked by transport.ts with an IPC
// channel). It only wires process messaging to WorkerService; the Electron utility-process entry
// will do the same over process.parentPort. Started without a channel it refuses to run.
import { WorkerService } from './worker-service.ts';
import { LOG_LEVELS, type LogLevel, type WorkerMessage } from './protocol.ts';

const send = process.send?.bind(process);
if (!send) {
  process.stderr.write(`[inference-worker ${process.pid}] must be started with an IPC channel (child_process.fork)\n`);
  process.exit(2);
}

// The last send's completion: on shutdown we exit only after every queued message is flushed.
let flushed: Promise<void> = Promise.resolve();
function post(message: WorkerMessage): void {
  if (!process.connected) return;
  flushed = new Promise((resolve) => {
    send!(message, undefined, {}, () => resolve());
  });
}

const envLevel = process.env.PHOTO_ASSISTANT_WORKER_LOG;
const logLevel: LogLevel = LOG_LEVELS.includes(envLevel as LogLevel) ? (envLevel as LogLevel) : 'info';
const service = new WorkerService({ post, pid: process.pid, logLevel });

process.on('message', (raw: unknown) => {
  void service.handle(raw).then(async (outcome) => {
    if (outcome !== 'shutdown') return;
    await flushed;
    process.exit(0);
  });
});

// The host is gone (it crashed or closed the channel): an orphaned worker would hold the model's memory.
process.on('disconnect', () => {
  void service.close().finally(() => process.exit(0));
});

// Last resort: report, then die with a distinct code so the host sees a crash and restarts us.
process.on('uncaughtException', (err) => {
  process.stderr.write(`[inference-worker ${process.pid}] uncaught: ${err.stack ?? err.message}\n`);
  process.exit(70);
});
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`[inference-worker ${process.pid}] unhandled rejection: ${String((reason as Error)?.stack ?? reason)}\n`);
  process.exit(70);
});

service.announce();
