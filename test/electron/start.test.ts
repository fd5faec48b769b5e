// `npm start` where Electron cannot run: without the binary it says so, how to get it and that the
// CLI works, exits 1, and never tries to download it (node_modules/electron's index.js would);
// with a binary but a better-sqlite3 built for Node it explains the rebuild instead of crashing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../../electron/build.ts';

const ELECTRON_PKG = join(ROOT, 'node_modules', 'electron');
let tmp: string;

before(async () => {
  await mkdir(join(ROOT, '.cache'), { recursive: true });
  tmp = await mkdtemp(join(ROOT, '.cache', 'electron-start-'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function npmStart(env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const clean = { ...process.env };
  delete clean.ELECTRON_OVERRIDE_DIST_PATH;
  delete clean.PHOTO_ASSISTANT_SKIP_ABI_CHECK;
  const r = spawnSync('npm', ['start', '--silent'], { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertBinaryMessage(stderr: string): void {
  assert.match(stderr, /Electron's binary is not installed on this machine/);
  assert.match(stderr, /npx install-electron/);
  assert.match(stderr, /node node_modules\/electron\/install\.js/);
  assert.match(stderr, /The CLI works without it: `npx photo-assistant/);
}

describe('npm start', () => {
  it('without an Electron binary: explains, exits 1, downloads nothing', async (t) => {
    if (existsSync(join(ELECTRON_PKG, 'path.txt'))) return t.skip('an Electron binary was installed on this machine');
    const r = npmStart({});
    assert.equal(r.status, 1, r.stderr);
    assertBinaryMessage(r.stderr);
    assert.match(r.stderr, /path\.txt is missing/);
    assert.ok(!existsSync(join(ELECTRON_PKG, 'dist')), 'no download was attempted');
  });

  it('with ELECTRON_OVERRIDE_DIST_PATH pointing at nothing: the same message', () => {
    const r = npmStart({ ELECTRON_OVERRIDE_DIST_PATH: join(tmp, 'no-electron-here') });
    assert.equal(r.status, 1, r.stderr);
    assertBinaryMessage(r.stderr);
    assert.match(r.stderr, /ELECTRON_OVERRIDE_DIST_PATH has no/);
  });

  it('with a binary but better-sqlite3 built for Node: says how to rebuild it for Electron', async (t) => {
    const electronAbi = readFileSync(join(ELECTRON_PKG, 'abi_version'), 'utf8').trim();
    if (electronAbi === process.versions.modules) return t.skip('Node and Electron share an ABI here');
    // A stand-in binary: the check must stop before anything runs it.
    const dist = join(tmp, 'fake-electron');
    await mkdir(dist, { recursive: true });
    const bin = join(dist, 'electron');
    const marker = join(tmp, 'ran');
    await writeFile(bin, `#!/bin/sh\ntouch '${marker}'\n`);
    await chmod(bin, 0o755);
    const relative = existsSync(join(ELECTRON_PKG, 'path.txt')) ? readFileSync(join(ELECTRON_PKG, 'path.txt'), 'utf8').trim() : 'electron';
    if (relative !== 'electron') return t.skip(`the binary's path here is ${relative}`);
    const r = npmStart({ ELECTRON_OVERRIDE_DIST_PATH: dist });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`better-sqlite3 is compiled for Node \\(ABI ${process.versions.modules}\\); Electron needs ABI ${electronAbi}`));
    assert.match(r.stderr, /npx electron-builder install-app-deps/);
    assert.match(r.stderr, /npm rebuild better-sqlite3/);
    assert.ok(!existsSync(marker), 'Electron was not started');
  });
});
