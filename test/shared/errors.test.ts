// Errors become data with a code that says what failed: our own codes pass through, SQLite and OS
// errors are io_error (disk_full when the disk is full), only the rest is inference_failed.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { AppError, ERROR_CODES, toErrorData } from '../../src/shared/errors.ts';

test('error codes: ours pass through, SQLite and file-system errors are io_error, the rest inference_failed', async () => {
  assert.deepEqual(toErrorData(new AppError('hub_not_found', 'no such repo')), { code: 'hub_not_found', message: 'no such repo' });
  const dir = await mkdtemp(join(tmpdir(), 'errors-'));
  try {
    // A real SQLite failure: a file that is not a database.
    await writeFile(join(dir, 'not.db'), 'this is not a database, just text long enough to have a header........');
    let sqlite: unknown;
    try {
      new Database(join(dir, 'not.db')).prepare('select 1 from sqlite_master').get();
    } catch (e) {
      sqlite = e;
    }
    const data = toErrorData(sqlite);
    assert.equal(data.code, 'io_error');
    assert.match(data.message, /^catalog: /);
    const fs = await import('node:fs/promises').then((m) => m.readFile(join(dir, 'missing')).catch((e) => e));
    assert.equal(toErrorData(fs).code, 'io_error');
    assert.equal(toErrorData(Object.assign(new Error('no space'), { code: 'ENOSPC' })).code, 'disk_full');
    assert.equal(toErrorData(new Error('ORT kernel failed')).code, 'inference_failed');
    assert.equal(toErrorData({ code: 'made_up' }).code, 'inference_failed');
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
