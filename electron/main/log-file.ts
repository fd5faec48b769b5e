// The app's log file: main, inference-worker and converter lines (main.ts's log, which the utility
// processes' piped stdout/stderr also go through), written to <logs>/photo-assistant.log and rotated
// by size (rotating-file-stream): photo-assistant.log is the current file, the rotated ones are named
// by when they were rotated (photo-assistant.20261205-121500.log), and beyond `keep` the oldest go. An installed app has no terminal, so stderr alone would be lost.
// Electron-free (the folder comes from app.getPath('logs') in main.ts), so it is tested in Node.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type RotatingFileStream, createStream } from 'rotating-file-stream';

export const LOG_FILE = 'photo-assistant.log';

export interface LogFileOptions {
  /** Rotate when the file reaches this size (rotating-file-stream's notation: '5M', '200K', '512B'). */
  size?: string;
  /** Rotated files kept besides the current one. */
  keep?: number;
}

export interface LogFile {
  readonly dir: string;
  readonly path: string;
  /** One line, timestamped; never throws (a log that fails must not take the app down). */
  write(line: string): void;
  close(): Promise<void>;
}

/** The current file's name (no time), or a rotated one's (rotated at `time`; `index` > 1 when several rotated in one second). */
export function logFileName(time?: Date | number | null, index?: number): string {
  if (!time) return LOG_FILE;
  const t = new Date(time);
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${t.getFullYear()}${p(t.getMonth() + 1)}${p(t.getDate())}-${p(t.getHours())}${p(t.getMinutes())}${p(t.getSeconds())}`;
  return LOG_FILE.replace(/\.log$/, `.${stamp}${index && index > 1 ? `-${index}` : ''}.log`);
}

export function openLogFile(dir: string, opts: LogFileOptions = {}): LogFile {
  mkdirSync(dir, { recursive: true });
  const stream: RotatingFileStream = createStream((time, index) => logFileName(time, index), {
    path: dir, size: opts.size ?? '5M', maxFiles: opts.keep ?? 4,
  });
  let broken = false;
  stream.on('error', () => { broken = true; });
  return {
    dir,
    path: join(dir, LOG_FILE),
    write(line: string): void {
      if (broken) return;
      try {
        stream.write(`${new Date().toISOString()} ${line.endsWith('\n') ? line : `${line}\n`}`);
      } catch {
        broken = true;
      }
    },
    close: () => new Promise<void>((resolve) => { stream.end(() => resolve()); }),
  };
}
