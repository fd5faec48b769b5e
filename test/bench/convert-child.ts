// Child process: converts the benchmark checkpoint with one quantization and reports time and peak RSS.
import { convertCheckpoint } from '../../src/builder/convert.ts';
import type { Quantization } from '../../src/builder/quant-plan.ts';
import { peakRssMiB, timed } from './proc-stats.ts';

const [ckpt, out, quant] = process.argv.slice(2);
const [m, ms] = await timed(() => convertCheckpoint(ckpt, out, { quant: quant as Quantization, force: true }));
const bytes = Object.values(m.files).reduce((a, f) => a + f.bytes, 0);
process.stdout.write(JSON.stringify({ quant, convertSeconds: ms / 1000, convertPeakRssMiB: peakRssMiB(), diskGiB: bytes / 2 ** 30 }) + '\n');
