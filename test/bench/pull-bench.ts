// npm run bench:pull — the full-size random BLIP-2 OPT-2.7b checkpoint (real names and shapes, F16,
// two shards; built once into $PA_BENCH_CACHE) served by the Hub emulator in its own process over
// loopback, pulled and stream-converted to int4 (or the quantization given: npm run bench:pull -- int8).
// Prints input throughput (checkpoint bytes per second; goal ≥ 150 MB/s so conversion never slows a
// gigabit line), the puller's peak RSS (goal ≤ 2 GB) and peak extra disk while pulling relative to the
// converted model (goal ≤ 1.1×).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ensureRandomCheckpoint } from './random-checkpoint.ts';
import { FIXTURES, REPO_ROOT } from '../helpers/fixtures.ts';
import { startHubEmulatorProcess } from '../helpers/hub-emulator.ts';

const CACHE = process.env.PA_BENCH_CACHE ?? join(homedir(), '.cache', 'photo-assistant-bench');
const quant = process.argv[2] ?? 'int4';
const log = (s: string) => process.stderr.write(`${s}\n`);
mkdirSync(CACHE, { recursive: true });
const ckpt = ensureRandomCheckpoint(join(CACHE, 'blip2-opt-2.7b-random'), join(FIXTURES, 'opt'), log);
const ckptBytes = readdirSync(ckpt).filter((f) => f.endsWith('.safetensors')).reduce((a, f) => a + statSync(join(ckpt, f)).size, 0);
const modelsDir = join(CACHE, 'pull-models');
rmSync(modelsDir, { recursive: true, force: true });
mkdirSync(modelsDir, { recursive: true });

log('starting the Hub emulator (hashes the checkpoint once)…');
const hub = await startHubEmulatorProcess({ repos: [{ id: 'Salesforce/blip2-opt-2.7b', dir: ckpt }] });
let peakDisk = 0;
const poll = setInterval(() => { peakDisk = Math.max(peakDisk, du(modelsDir)); }, 200);
log(`pulling ${(ckptBytes / 1e9).toFixed(2)} GB → ${quant}…`);
const result = await new Promise<{ seconds: number; downloadedBytes: number; modelBytes: number; peakRssMiB: number }>((resolve, reject) => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/bench/pull-child.ts'), hub.url, 'Salesforce/blip2-opt-2.7b', modelsDir, quant], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`pull child exited ${code}`))));
});
clearInterval(poll);
peakDisk = Math.max(peakDisk, du(modelsDir));
await hub.close();

const mbps = ckptBytes / result.seconds / 1e6;
const figures = {
  quant, checkpointGB: +(ckptBytes / 1e9).toFixed(2), seconds: +result.seconds.toFixed(1),
  inputMBps: +mbps.toFixed(1), goalMBps: 150, throughputRatio: +(mbps / 150).toFixed(2),
  peakRssMiB: Math.round(result.peakRssMiB), rssGoalMiB: 2048,
  modelGB: +(result.modelBytes / 1e9).toFixed(3), peakExtraDiskGB: +(peakDisk / 1e9).toFixed(3),
  diskRatio: +(peakDisk / result.modelBytes).toFixed(3), diskGoalRatio: 1.1,
};
console.log(JSON.stringify(figures, null, 2));

function du(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    try {
      total += e.isDirectory() ? du(p) : statSync(p).blocks * 512;
    } catch { /* renamed while we looked */ }
  }
  return total;
}
