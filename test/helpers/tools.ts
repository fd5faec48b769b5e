// Helpers for tests that lean on real outside tools and on this process's responsiveness.
import { execFileSync } from 'node:child_process';

/**
 * Fails (never skips) when a reference tool is missing, naming the Debian package: `.ci/run` installs
 * them, and a check that silently does not run proves nothing.
 */
export function requireTool(name: string, debianPackage: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${name} is not installed: apt-get install ${debianPackage} (as .ci/run does)`);
  }
}

/** Watches this event loop: `stop()` returns the longest gap (ms) between ticks of `everyMs`. */
export function watchEventLoop(everyMs: number): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, everyMs);
  return {
    stop(): number {
      clearInterval(tick);
      return worst;
    },
  };
}
