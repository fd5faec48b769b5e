// Kill the indexer and its worker with SIGKILL at random moments, many times; after resuming,
// every photo has exactly one caption (nothing lost, nothing captioned twice), the catalog passes
// integrity_check and every sidecar is well-formed XML.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { Catalog } from '../../src/library/catalog/catalog.ts';
import { isWellFormedXml } from '../../src/library/xmp/index.ts';
import { REPO_ROOT, fixturePath, makeTempDir } from '../helpers/fixtures.ts';
import { runCli } from '../helpers/cli.ts';

const PHOTO_COUNT = 60;
let dir: string;
let photos: string;
let db: string;
let model: string;

before(async () => {
  dir = await makeTempDir();
  model = join(dir, 'model');
  await convertCheckpoint(fixturePath('opt'), model);
  photos = join(dir, 'photos');
  await mkdir(photos);
  for (let i = 0; i < PHOTO_COUNT; i++) {
    await sharp({ create: { width: 96 + i, height: 64, channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: (i * 13) % 256 } } })
      .png().toFile(join(photos, `p${String(i).padStart(2, '0')}.png`));
  }
  db = join(dir, 'catalog.db');
});
after(() => rm(dir, { recursive: true, force: true }));

function rng(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function check(): number {
  const c = Catalog.open(db);
  try {
    assert.equal(c.integrityCheck(), 'ok');
    let captioned = 0;
    for (const p of c.listPhotos({ limit: 1000 })) {
      const ai = c.captionHistory(p.id).filter((x) => x.provenance === 'ai');
      assert.ok(ai.length <= 1, `photo ${p.id} captioned ${ai.length} times`);
      if (c.currentCaption(p.id)) captioned++;
    }
    return captioned;
  } finally {
    c.close();
  }
}

describe('kill and resume', () => {
  it('survives SIGKILL of the indexer and of the worker at random moments', { timeout: 300_000 }, async (t) => {
    const random = rng(20261127);
    const args = ['index', photos, '--db', db, '--model', model, '--max-new-tokens', '12'];
    let captioned = 0;
    const progress: number[] = [];
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'src/cli/photo-assistant.mjs'), ...args], { stdio: 'ignore' });
      const closed = new Promise((r) => child.on('close', r));
      await new Promise((r) => setTimeout(r, 2400 + random() * 1200));
      const victim = round % 3 === 2 ? childrenOf(child.pid!)[0] : undefined;
      if (victim) {
        process.kill(victim, 'SIGKILL'); // the worker: the host restarts it and the job is retried
        await new Promise((r) => setTimeout(r, 500 + random() * 1500));
      }
      child.kill('SIGKILL');
      await closed;
      for (const pid of childrenOf(child.pid!)) process.kill(pid, 'SIGKILL');
      const now = check();
      assert.ok(now >= captioned, `completed captions lost: ${now} < ${captioned}`);
      captioned = now;
      progress.push(now);
    }
    t.diagnostic(`captioned after each kill: ${progress.join(', ')} of ${PHOTO_COUNT}`);
    const final = await runCli(args);
    assert.equal(final.code, 0, final.stderr);
    assert.equal(check(), PHOTO_COUNT, 'every photo captioned once');
    for (const f of readdirSync(photos).filter((n) => n.endsWith('.xmp'))) {
      assert.ok(isWellFormedXml(readFileSync(join(photos, f), 'utf8')), `${f} well-formed`);
    }
    assert.equal(readdirSync(photos).filter((n) => n.endsWith('.xmp')).length, PHOTO_COUNT);
  });
});
