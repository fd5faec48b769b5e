// `npm run bench:scan`: scanning 10,000 small photos into a fresh catalog (hash, facts, catalog
// rows, queued caption jobs) and rescanning them unchanged: time and peak memory. Then a mixed-format
// run: one folder per format (JPEG, PNG 16-bit, AVIF, HEIC, HEIC 12 MP, DNG with preview, JPEG XL), each
// scanned into its own catalog: files per second and the peak memory of that run (VmHWM reset
// between runs). `SCAN_COUNT` / `MIXED_COUNT` size the two parts; `SCAN_ONLY=mixed` skips the first.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Library } from '../../src/library/library.ts';
import { stopDecodeThread } from '../../src/runtime/image/decode/decode-pool.ts';
import { PHOTOS, REPO_ROOT } from '../helpers/fixtures.ts';
import { peakRssMiB, timed } from './proc-stats.ts';

const COUNT = Number(process.env.SCAN_COUNT ?? 10_000);
const MIXED_COUNT = Number(process.env.MIXED_COUNT ?? 100);
const dir = mkdtempSync(join(tmpdir(), 'pa-scan-bench-'));
try {
  if (process.env.SCAN_ONLY !== 'mixed') await smallJpegs();
  await mixedFormats();
} finally {
  await stopDecodeThread();
  rmSync(dir, { recursive: true, force: true });
}

async function smallJpegs(): Promise<void> {
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
}

/** Makes each copy distinct (content hash = identity) the way its format allows trailing data. */
function distinct(bytes: Buffer, format: string, i: number): Buffer {
  const tag = Buffer.from(`#${i}`);
  if (format === 'heic' || format === 'heic-12mp' || format === 'avif') {
    // An ISO-BMFF 'free' box after the last box: valid, ignored by readers.
    const box = Buffer.alloc(8);
    box.writeUInt32BE(8 + tag.length, 0);
    box.write('free', 4, 'latin1');
    return Buffer.concat([bytes, box, tag]);
  }
  return Buffer.concat([bytes, tag]); // after a JPEG's EOI, a PNG's IEND, a DNG's data, a JXL codestream
}

function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5'); // Linux: resets VmHWM to the current RSS
  } catch {
    // not Linux: the peak then covers every run so far
  }
}

async function mixedFormats(): Promise<void> {
  const fx = (n: string) => readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'formats', n));
  const samples: Record<string, Buffer> = {
    jpeg: readFileSync(join(PHOTOS, 'coffee.jpg')),
    'png-16bit': await sharp(join(PHOTOS, 'coffee.jpg')).toColourspace('rgb16').png().toBuffer(),
    avif: fx('rocket.avif'),
    heic: fx('coffee.heic'),
    dng: fx('cat_preview.dng'),
    jxl: fx('chelsea.jxl'),
  };
  try {
    // A phone-sized HEIC (4032×3024, as an iPhone's 12 MP main camera), made with heif-enc if present.
    const big = join(dir, 'big.png');
    await sharp(join(PHOTOS, 'coffee.jpg')).resize(4032, 3024).png().toFile(big);
    execFileSync('heif-enc', ['-q', '50', '-o', join(dir, 'big.heic'), big], { stdio: 'ignore' });
    samples['heic-12mp'] = readFileSync(join(dir, 'big.heic'));
  } catch {
    console.log('(heif-enc not installed: no 12 MP HEIC run)');
  }
  const ext: Record<string, string> = { jpeg: 'jpg', 'png-16bit': 'png', avif: 'avif', heic: 'heic', 'heic-12mp': 'heic', dng: 'dng', jxl: 'jxl' };
  console.log(`\nmixed formats, ${MIXED_COUNT} files each (fresh catalog per format):`);
  console.log(`${'format'.padEnd(10)} ${'KB/file'.padStart(8)} ${'files/s'.padStart(8)} ${'peak RSS MiB'.padStart(13)} problems`);
  for (const [format, bytes] of Object.entries(samples)) {
    const count = format === 'heic-12mp' ? Math.max(1, Math.round(MIXED_COUNT / 10)) : MIXED_COUNT;
    const folder = join(dir, `mixed-${format}`);
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < count; i++) writeFileSync(join(folder, `img${i}.${ext[format]}`), distinct(bytes, format, i));
    resetPeakRss();
    const lib = Library.open(join(dir, `mixed-${format}.db`));
    const [sum, ms] = await timed(() => lib.scan(lib.addFolder(folder)));
    lib.close();
    const line = [format.padEnd(10), (bytes.length / 1024).toFixed(0).padStart(8), (count / (ms / 1000)).toFixed(1).padStart(8), peakRssMiB().toFixed(0).padStart(13), String(sum.problems)];
    console.log(`${line.join(' ')}${format === 'heic-12mp' ? `   (${count} files)` : ''}`);
  }
}
