// `npm run bench`: full-size BLIP-2 OPT-2.7b (random weights, real shapes) converted to fp32 /
// int8 / int4 and timed stage by stage, next to this machine's measured limits. Prints a table
// and writes JSON; int4 also runs in low-memory mode (a batch of photos, one model half at a time).
// Usage: npm run bench [-- [t5] fp32 int8 int4] (default all three; `t5` benches a BLIP-2
// Flan-T5-XL instead, whose prefill is the encoder plus the first decoder step).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../src/runtime/model-folder.ts';
import { compareLogits } from '../../src/runtime/logits-compare.ts';
import { measureMachineLimits } from './machine-limits.ts';
import { OPT_27B, ensureRandomCheckpoint } from './random-checkpoint.ts';
import { FLAN_T5_XL, ensureRandomT5Checkpoint } from './random-t5-checkpoint.ts';
import { FIXTURES, PHOTOS } from '../helpers/fixtures.ts';

const CACHE = process.env.PA_BENCH_CACHE ?? join(homedir(), '.cache', 'photo-assistant-bench');
const VISION_GFLOP = 520;
const quants = process.argv.slice(2).filter((a) => ['fp32', 'int8', 'int4'].includes(a));
if (!quants.length) quants.push('fp32', 'int8', 'int4');
const t5 = process.argv.slice(2).includes('t5');
const tag = t5 ? 't5-' : ''; // cache file prefix of the family
const log = (s: string) => process.stderr.write(`${s}\n`);
const here = new URL('.', import.meta.url).pathname;

function child(script: string, args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, script), ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (${r.signal ?? r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function dropCaches(): boolean {
  try {
    execFileSync('sh', ['-c', 'sync && echo 1 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Fingerprint of the builder's code: cached conversions are redone when it changes. */
function builderFingerprint(): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(join(here, '..', '..', 'src', 'builder'));
  return h.digest('hex').slice(0, 16);
}
const BUILDER = builderFingerprint();

mkdirSync(CACHE, { recursive: true });
log('measuring machine limits…');
const limits = await measureMachineLimits();
log(`  bandwidth ${limits.bandwidthGBs.toFixed(1)} GB/s, fp32 GEMM ${limits.gemmGflops.toFixed(0)} GFLOP/s`);
log('full-size random checkpoint…');
const ckpt = t5
  ? ensureRandomT5Checkpoint(join(CACHE, 'blip2-flan-t5-xl-random'), join(FIXTURES, 'flan_t5'), log)
  : ensureRandomCheckpoint(join(CACHE, 'blip2-opt-2.7b-random'), join(FIXTURES, 'opt'), log);
const photo = join(PHOTOS, 'chelsea.jpg');

const rows: Record<string, Record<string, number | string | boolean>> = {};
for (const q of quants) {
  const out = join(CACHE, `model-${tag}${q}`);
  const statsFile = join(CACHE, `convert-${tag}${q}.json`);
  const cached = existsSync(statsFile) ? JSON.parse(readFileSync(statsFile, 'utf8')) : undefined;
  if (!existsSync(join(out, 'model.json')) || cached?.builder !== BUILDER) {
    log(`converting ${q}…`);
    writeFileSync(statsFile, JSON.stringify({ ...child('convert-child.ts', [ckpt, out, q]), builder: BUILDER }));
  }
  const { builder: _, ...conv } = JSON.parse(readFileSync(statsFile, 'utf8'));
  const cold = dropCaches();
  log(`running ${q} (${cold ? 'cold' : 'page cache not droppable'} start)…`);
  const first = child('infer-child.ts', [out, photo, join(CACHE, `logits-${tag}${q}.bin`)]);
  log(`running ${q} again (warm start)…`);
  const warm = child('infer-child.ts', [out, photo, join(CACHE, `logits-${tag}${q}.bin`)]);

  // int4 in low-memory mode too (one model half at a time): a batch captioned as the CLI does it.
  const low = q === 'int4' ? (log('running int4 in low-memory mode…'), child('low-memory-child.ts', [out, PHOTOS])) : undefined;

  const m = await readManifest(out);
  const o = t5 ? { vocab: FLAN_T5_XL.vocab, hidden: FLAN_T5_XL.hidden, positions: 0 } : OPT_27B.opt;
  const tableBytes = o.vocab * o.hidden * 4;
  const positionBytes = o.positions * o.hidden * 4;
  // Bytes of weights one decode step reads: every layer, plus the LM head (the float table when
  // it is tied and unquantized); the embedding Gather and position lookup read one row each.
  // Flan-T5's head is untied: its token table is only gathered from.
  const storedTable = m.quantization.embeddings === 'fp16' ? tableBytes / 2 : tableBytes;
  // OPT's table is the head itself: unquantized (float, tied) or the head's 8-bit copy (int8).
  const tableIsHead = !t5 && (!m.quantization.parts.lmHead || m.quantization.embeddings === 'int8');
  const perToken = m.files['decoder.onnx.data'].bytes - positionBytes - (tableIsHead ? 0 : storedTable);
  const boundMs = (perToken / (limits.bandwidthGBs * 1e9)) * 1000;
  const visionBoundMs = (VISION_GFLOP / limits.gemmGflops) * 1000;
  rows[q] = {
    ...conv,
    loadColdSeconds: first.loadSeconds, loadWarmSeconds: warm.loadSeconds, coldDropped: cold,
    visionMs: warm.visionMs, qformerMs: warm.qformerMs, prefillMs: warm.prefillMs,
    ...(t5 ? { encoderMs: warm.prefillMs - warm.decodeMsPerToken } : {}),
    decodeMsPerToken: warm.decodeMsPerToken, caption20Seconds: warm.caption20Seconds,
    captionPeakRssMiB: Math.max(first.peakRssMiB, warm.peakRssMiB),
    rssPrivateMiB: warm.rssAnonMiB, rssFileBackedMiB: warm.rssFileMiB,
    decodeBytesPerTokenGiB: perToken / 2 ** 30, decodeBoundMs: boundMs, decodeFractionOfBound: boundMs / warm.decodeMsPerToken,
    visionFractionOfGemmBound: visionBoundMs / warm.visionMs,
    ...(low ? {
      lowMemoryPeakRssMiB: low.peakRssMiB, lowMemorySecondsPerPhoto: low.secondsPerPhoto, lowMemoryBatch: low.batch,
      lowMemoryImageOpenSeconds: low.imageHalfReopenSeconds, lowMemoryLanguageOpenSeconds: low.languageHalfOpenSeconds,
    } : {}),
  };
}

const ref = existsSync(join(CACHE, `logits-${tag}fp32.bin`)) ? readFileSync(join(CACHE, `logits-${tag}fp32.bin`)) : undefined;
for (const q of quants.filter((x) => x !== 'fp32')) {
  if (!ref) break;
  const a = new Float32Array(ref.buffer.slice(ref.byteOffset, ref.byteOffset + ref.byteLength));
  const bb = readFileSync(join(CACHE, `logits-${tag}${q}.bin`));
  const r = compareLogits(a, new Float32Array(bb.buffer.slice(bb.byteOffset, bb.byteOffset + bb.byteLength)));
  Object.assign(rows[q], { logitsCosineVsFp32: r.cosine, top1AgreesWithFp32: r.top1Agrees, top5Overlap: r.top5Overlap, logitsMaxAbsDiff: r.maxAbsDiff });
}
for (const q of quants.filter((x) => x !== 'fp32')) {
  if (rows.fp32) rows[q].caption20SpeedupVsFp32 = Number(rows.fp32.caption20Seconds) / Number(rows[q].caption20Seconds);
  if (rows.int8 && q === 'int4') rows[q].caption20SpeedupVsInt8 = Number(rows.int8.caption20Seconds) / Number(rows[q].caption20Seconds);
}

const keys = [...new Set(Object.values(rows).flatMap((r) => Object.keys(r)))].filter((k) => k !== 'quant');
const fmt = (v: unknown) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4)) : String(v ?? ''));
console.log(`machine: bandwidth ${limits.bandwidthGBs.toFixed(1)} GB/s, fp32 GEMM ${limits.gemmGflops.toFixed(0)} GFLOP/s, vision ≈ ${VISION_GFLOP} GFLOP/image`);
console.log(['metric'.padEnd(28), ...quants.map((q) => q.padStart(12))].join(''));
for (const k of keys) console.log([k.padEnd(28), ...quants.map((q) => fmt(rows[q]?.[k]).padStart(12))].join(''));
// The int4 goals (issue 15), checked here rather than by timed tests.
const GOALS: [string, (r: Record<string, number | string | boolean>) => number | undefined, (v: number) => boolean, string][] = [
  ['caption20Seconds', (r) => Number(r.caption20Seconds), (v) => v <= 5.4, '≤ 5.4 s'],
  ['decodeFractionOfBound', (r) => Number(r.decodeFractionOfBound), (v) => v >= 0.7, '≥ 0.70'],
  ['visionMs', (r) => Number(r.visionMs), (v) => v <= 2000, '≤ 2000 ms'],
  // Memory: both halves open peak at their sum; low-memory mode (one at a time) is the 3 GB answer,
  // and its 20-token caption per photo, switches included, is held to the same speed goal.
  ['captionPeakRssMiB', (r) => Number(r.captionPeakRssMiB), (v) => v * 2 ** 20 <= 3e9, '≤ 3 GB (2861 MiB)'],
  ['lowMemoryPeakRssMiB', (r) => (r.lowMemoryPeakRssMiB === undefined ? undefined : Number(r.lowMemoryPeakRssMiB)), (v) => v * 2 ** 20 <= 3e9, '≤ 3 GB (2861 MiB)'],
  ['lowMemorySecondsPerPhoto', (r) => (r.lowMemorySecondsPerPhoto === undefined ? undefined : Number(r.lowMemorySecondsPerPhoto)), (v) => v <= 5.4, '≤ 5.4 s'],
  ['logitsCosineVsFp32', (r) => (r.logitsCosineVsFp32 === undefined ? undefined : Number(r.logitsCosineVsFp32)), (v) => v >= 0.99, '≥ 0.99'],
  ['top5Overlap', (r) => (r.top5Overlap === undefined ? undefined : Number(r.top5Overlap)), (v) => v >= 0.8, '≥ 0.8'],
];
const goals: Record<string, { value: number | null; goal: string; met: boolean | null }> = {};
if (rows.int4) {
  console.log('\nint4 goals:');
  for (const [name, get, ok, goal] of GOALS) {
    const v = get(rows.int4);
    goals[name] = { value: v ?? null, goal, met: v === undefined ? null : ok(v) };
    console.log(`  ${name.padEnd(24)} ${v === undefined ? 'not measured' : fmt(v).padStart(10)}  ${goal.padEnd(18)} ${v === undefined ? '' : ok(v) ? 'met' : 'NOT met'}`);
  }
}
const result = { date: new Date().toISOString(), machine: limits, rows, goals };
writeFileSync(join(CACHE, `bench-${tag}results.json`), JSON.stringify(result, null, 2));
console.log(`\nJSON: ${join(CACHE, `bench-${tag}results.json`)}`);
