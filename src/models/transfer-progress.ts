// Rate and ETA of a transfer over a sliding window, and throttled progress events.

export type { PullProgress, PullStage } from '../shared/app-types.ts';

export class RateMeter {
  private readonly samples: Array<{ t: number; bytes: number }> = [];
  constructor(private readonly windowMs = 5000, private readonly now = () => Date.now()) {}

  add(totalBytes: number): void {
    const t = this.now();
    this.samples.push({ t, bytes: totalBytes });
    while (this.samples.length > 2 && t - this.samples[0].t > this.windowMs) this.samples.shift();
  }

  rate(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    return b.t > a.t ? ((b.bytes - a.bytes) * 1000) / (b.t - a.t) : 0;
  }

  eta(remaining: number): number | null {
    const r = this.rate();
    return r > 0 ? Math.round(remaining / r) : null;
  }
}
