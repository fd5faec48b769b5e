// The one restart policy of the worker processes, on an injected clock: doubling delays, at most
// maxRestarts within the sliding window, a crash outside the window counts afresh, reset forgets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartPolicy } from '../../src/jobs/restart-policy.ts';

describe('RestartPolicy', () => {
  it('doubles the delay per restart, gives up past maxRestarts in the window, and forgets old crashes', () => {
    let now = 1_000_000;
    const p = new RestartPolicy({ maxRestarts: 3, windowMs: 60_000, backoffMs: 100 }, () => now);
    assert.deepEqual(p.onCrash(), { restart: true, attempt: 1, delayMs: 100 });
    now += 1_000;
    assert.deepEqual(p.onCrash(), { restart: true, attempt: 2, delayMs: 200 });
    now += 1_000;
    assert.deepEqual(p.onCrash(), { restart: true, attempt: 3, delayMs: 400 });
    now += 1_000;
    assert.deepEqual(p.onCrash(), { restart: false, crashes: 4, windowMs: 60_000 });
    // A minute after the first two, they no longer count.
    now += 58_500;
    assert.deepEqual(p.onCrash(), { restart: true, attempt: 2, delayMs: 200 });
    p.reset();
    assert.deepEqual(p.onCrash(), { restart: true, attempt: 1, delayMs: 100 });
  });

  it('defaults to 5 restarts a minute starting at 200 ms', () => {
    const p = new RestartPolicy({}, () => 0);
    const delays = Array.from({ length: 5 }, () => p.onCrash()).map((d) => (d.restart ? d.delayMs : -1));
    assert.deepEqual(delays, [200, 400, 800, 1600, 3200]);
    assert.equal(p.onCrash().restart, false);
  });
});
