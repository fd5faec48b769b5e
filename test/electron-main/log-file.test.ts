// The app's rotating log file, for real on disk: lines are timestamped, the file rotates by size,
// only `keep` rotated files stay, and the newest lines are always in photo-assistant.log.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG_FILE, logFileName, openLogFile } from '../../electron/main/log-file.ts';
import { makeTempDir } from '../helpers/fixtures.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

describe('log file', () => {
  it('writes timestamped lines, rotates past the size limit and keeps only the newest rotated files', async () => {
    const dir = join(await makeTempDir(), 'logs');
    dirs.push(dir);
    const log = openLogFile(dir, { size: '2K', keep: 2 });
    assert.equal(log.path, join(dir, LOG_FILE));
    for (let i = 0; i < 200; i++) {
      log.write(`[inference-worker 42] line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}`);
      // Rotation happens between writes; a pause now and then lets the stream rotate several times.
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 20));
    }
    await log.close();
    const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
    const rotated = logs.filter((f) => f !== LOG_FILE);
    assert.ok(logs.includes(LOG_FILE), logs.join(', '));
    assert.equal(rotated.length, 2, `only the 2 newest rotated files are kept: ${logs.join(', ')}`);
    for (const f of rotated) assert.match(f, /^photo-assistant\.\d{8}-\d{6}(-\d+)?\.log$/);
    const current = readFileSync(join(dir, LOG_FILE), 'utf8');
    assert.match(current, /line 199/, 'the newest line is in the current file');
    assert.ok(Buffer.byteLength(current) <= 2048 + 200, `the current file stays near the limit (${Buffer.byteLength(current)} bytes)`);
    for (const l of current.trim().split('\n')) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[inference-worker 42\] line \d{3} x+$/);
    // The oldest lines went with the dropped files.
    const all = logs.map((f) => readFileSync(join(dir, f), 'utf8')).join('');
    assert.doesNotMatch(all, /line 000 /);
  });

  it('names rotated files by their rotation time', () => {
    assert.equal(logFileName(), 'photo-assistant.log');
    const t = new Date(2026, 11, 5, 9, 7, 3);
    assert.equal(logFileName(t, 1), 'photo-assistant.20261205-090703.log');
    assert.equal(logFileName(t, 2), 'photo-assistant.20261205-090703-2.log');
  });

  it('a log whose folder cannot be written does not throw at write time', async () => {
    const dir = join(await makeTempDir(), 'logs');
    dirs.push(dir);
    const log = openLogFile(dir);
    await rm(dir, { recursive: true, force: true });
    assert.doesNotThrow(() => log.write('after the folder vanished'));
    await log.close().catch(() => {});
  });
});
