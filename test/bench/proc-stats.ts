// Peak resident memory of this process (VmHWM), in MiB; and a tiny timer.
import { readFileSync } from 'node:fs';

export function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const s = performance.now();
  const r = await fn();
  return [r, performance.now() - s];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}
