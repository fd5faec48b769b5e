// `npm run bench:scan`: scanning 10,000 small photos into a fresh catalog (hash, facts, catalog
// rows, queued caption jobs) and rescanning them unchanged: time and peak memory.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Library } from '../../src/library/library.ts';
import { peakRssMiB, timed } from './proc-stats.ts';

const COUNT = Number(process.env.SCAN_COUNT ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'pa-scan-bench-'));
try {
  const base = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#468' } }).jpeg().toBuffer();
  for (let i = 0; i < COUNT; i++) {
    const sub = join(dir, 'photos', `d${Math.floor(i / 500)}`);
    if (i % 500 === 0) mkdirSync(sub, { recursive: true });
    // Bytes after the JPEG end marker make each file distinct while it stays a valid image.
    writeFileSync(join(sub, `img${i}.jpg`), Buffer.concat([base, Buffer.from(`#${i}`)]));
  }
  const rssBefore = peakRssMiB();
  const lib = Library.open(join(dir, 'catalog.db'));
  const folder = lib.addFolder(join(dir, 'photos'));
  const [first, firstMs] = await timed(() => lib.scan(folder));
  const [second, secondMs] = await timed(() => lib.scan(folder));
  const pending = lib.queue.pendingCount();
  lib.close();
  const result = {
    files: COUNT,
    firstScanSeconds: firstMs / 1000, firstScanFilesPerSecond: COUNT / (firstMs / 1000),
    rescanSeconds: secondMs / 1000, rescanFilesPerSecond: COUNT / (secondMs / 1000),
    added: first.added, problems: first.problems + second.problems, queuedJobs: pending,
    peakRssMiB: peakRssMiB(), rssBeforeScanMiB: rssBefore,
    catalogMiB: readFileSync(join(dir, 'catalog.db')).byteLength / 2 ** 20,
  };
  for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(24)} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : v}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
