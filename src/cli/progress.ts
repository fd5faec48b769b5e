// A progress bar on stderr for runs over many images (only when stderr is a terminal, so
// pipes and logs stay clean); result lines go to stdout either way.
import { SingleBar, Presets } from 'cli-progress';

export class Progress {
  private readonly bar?: SingleBar;

  constructor(total: number) {
    if (!process.stderr.isTTY) return;
    this.bar = new SingleBar({ stream: process.stderr, format: '{bar} {value}/{total} images | {eta_formatted} left', etaBuffer: 20 }, Presets.shades_classic);
    this.bar.start(total, 0);
  }

  log(line: string, error = false): void {
    // Clear the bar's line; it redraws on the next tick.
    if (this.bar) process.stderr.write('\r\x1b[K');
    (error ? process.stderr : process.stdout).write(`${line}\n`);
  }

  tick(): void {
    this.bar?.increment();
  }

  stop(): void {
    this.bar?.stop();
  }
}
