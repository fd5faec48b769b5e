// A progress bar on stderr for runs over many images (only when stderr is a terminal, so
// pipes and logs stay clean); result lines go to stdout either way.
import { SingleBar, Presets } from 'cli-progress';

export class Progress {
  private readonly bar?: SingleBar;

  constructor(total: number, unit = 'images') {
    if (!process.stderr.isTTY) return;
    this.bar = new SingleBar({ stream: process.stderr, format: `{bar} {value}/{total} ${unit} | {rate}/min | {eta_formatted} left`, etaBuffer: 20 }, Presets.shades_classic);
    this.bar.start(total, 0, { rate: '-' });
  }

  log(line: string, error = false): void {
    // Clear the bar's line; it redraws on the next tick.
    if (this.bar) process.stderr.write('\r\x1b[K');
    (error ? process.stderr : process.stdout).write(`${line}\n`);
  }

  private readonly started = Date.now();

  tick(): void {
    if (!this.bar) return;
    const done = this.bar.getProgress() * this.bar.getTotal() + 1;
    const rate = (done / ((Date.now() - this.started) / 60000)).toFixed(1);
    this.bar.increment(1, { rate });
  }

  stop(): void {
    this.bar?.stop();
  }
}
