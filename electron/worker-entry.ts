// Entry of the inference worker as an Electron utility process (bundled to electron/dist/worker.cjs,
// forked by electron/main/utility-transport.ts). The twin of src/jobs/worker-main.ts: it only wires
// process.parentPort to WorkerService, so the CLI and the app speak one protocol to one worker.
import { WorkerService } from '../src/jobs/worker-service.ts';
import { LOG_LEVELS, type LogLevel, type WorkerMessage } from '../src/jobs/protocol.ts';

// Typed through electron's NodeJS.Process augmentation, but null outside a utility process.
const port = process.parentPort as Electron.ParentPort | null | undefined;
if (!port) {
  process.stderr.write(`[inference-worker ${process.pid}] must be started as an Electron utility process\n`);
  process.exit(2);
}

function post(message: WorkerMessage): void {
  port!.postMessage(message);
}

const envLevel = process.env.PHOTO_ASSISTANT_WORKER_LOG;
const logLevel: LogLevel = LOG_LEVELS.includes(envLevel as LogLevel) ? (envLevel as LogLevel) : 'info';
const service = new WorkerService({ post, pid: process.pid, logLevel });

port.on('message', (event) => {
  void service.handle(event.data).then((outcome) => {
    if (outcome !== 'shutdown') return;
    // postMessage has no completion callback: one turn of the loop lets the last messages leave.
    setImmediate(() => process.exit(0));
  });
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
