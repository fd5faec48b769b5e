// When a crashed worker process is started again: at most `maxRestarts` restarts within a sliding
// `windowMs`, the n-th of them after backoffMs · 2^(n−1); beyond that the owner gives up and says so.
// The one restart policy of the app's worker processes (InferenceHost uses it; the job queue's
// per-photo attempts are a different thing: how often one photo is tried, not one process).

export interface RestartPolicyOptions {
  /** At most this many automatic restarts per window. Default 5. */
  maxRestarts?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Delay before the first restart in a window; doubles per restart. Default 200 ms. */
  backoffMs?: number;
}

export type RestartDecision =
  | { restart: true; attempt: number; delayMs: number }
  | { restart: false; crashes: number; windowMs: number };

export class RestartPolicy {
  private times: number[] = [];
  private readonly maxRestarts: number;
  private readonly windowMs: number;
  private readonly backoffMs: number;

  constructor(o: RestartPolicyOptions = {}, private readonly now: () => number = Date.now) {
    this.maxRestarts = o.maxRestarts ?? 5;
    this.windowMs = o.windowMs ?? 60_000;
    this.backoffMs = o.backoffMs ?? 200;
  }

  /** Called on each crash: restart (after delayMs) or give up. */
  onCrash(): RestartDecision {
    const now = this.now();
    this.times = this.times.filter((at) => now - at < this.windowMs);
    if (this.times.length >= this.maxRestarts) return { restart: false, crashes: this.times.length + 1, windowMs: this.windowMs };
    this.times.push(now);
    const attempt = this.times.length;
    return { restart: true, attempt, delayMs: this.backoffMs * 2 ** (attempt - 1) };
  }

  /** A fresh start (start() after a shutdown) forgets earlier crashes. */
  reset(): void {
    this.times = [];
  }
}
