// `npm run bench:kernels`: which ONNX Runtime CPU kernel is fastest on this machine for the
// shapes BLIP-2 runs: decode (M=1, OPT-2.7b 2560↔10240), prefill (M=33) and vision (M=257,
// ViT-g 1408↔6144). Each case chains several distinct weight matrices so decode reads from
// memory, not cache. Prints ms per run and GB/s or GFLOP/s.
import * as ort from 'onnxruntime-node';
import { DT, GraphBuilder } from '../../src/onnx/graph-builder.ts';
import { quantizeBlocks, quantizePerChannelInt8 } from '../../src/builder/onnx/quantize.ts';
import { transpose2d } from '../../src/builder/onnx/weights.ts';

type Kind = { name: string; kind: 'fp32' } | { name: string; kind: 'nbits'; bits: 4 | 8; block: number; acc: number; sym: boolean } | { name: string; kind: 'dqmm' };
const threads = Number(process.env.THREADS ?? 2);

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296 - 0.5) * 0.04;
  }
  return a;
}

function build(kind: Kind, m: number, dims: [number, number][]): { bytes: Uint8Array; weightBytes: number } {
  const g = new GraphBuilder('k');
  let x = g.input('x', DT.FLOAT, [m, dims[0][0]]);
  let weightBytes = 0;
  dims.forEach(([k, n], i) => {
    const w = rand(n * k, i + 7); // [N, K] as HF stores
    if (kind.kind === 'fp32') {
      const wt = transpose2d(w, n, k);
      weightBytes += wt.byteLength;
      x = g.op('MatMul', [x, g.weight(`w${i}`, wt, [k, n])], { name: `mm${i}` });
    } else if (kind.kind === 'nbits') {
      const p = quantizeBlocks(w, n, k, { bits: kind.bits, blockSize: kind.block, symmetric: kind.sym });
      weightBytes += p.data.byteLength + p.scales.byteLength + (p.zeroPoints?.byteLength ?? 0);
      const ins = [x, g.tensor(`b${i}`, DT.UINT8, p.data, [n, p.blocks, (kind.block * kind.bits) / 8]), g.weight(`s${i}`, p.scales, [n, p.blocks])];
      if (p.zeroPoints) ins.push(g.tensor(`z${i}`, DT.UINT8, p.zeroPoints, [p.zeroPoints.length]));
      x = g.op('MatMulNBits', ins, { name: `mm${i}`, domain: 'com.microsoft', attrs: { K: k, N: n, bits: kind.bits, block_size: kind.block, accuracy_level: kind.acc } });
    } else {
      // per-column symmetric int8 weight, dynamic per-tensor uint8 activations
      const { data: q, scales: sc } = quantizePerChannelInt8(w, n, k);
      weightBytes += q.byteLength + sc.byteLength;
      x = g.op('DynamicQuantizeMatMul', [x, g.tensor(`q${i}`, DT.INT8, new Uint8Array(q.buffer), [k, n]), g.weight(`sc${i}`, sc, [n])], { name: `mm${i}`, domain: 'com.microsoft' });
    }
  });
  g.bindOutput(x, 'y', DT.FLOAT, [m, dims[dims.length - 1][1]]);
  return { bytes: g.serialize({ '': 17, 'com.microsoft': 1 }), weightBytes };
}

async function time(kind: Kind, m: number, dims: [number, number][], reps: number, extra: Record<string, string> = {}): Promise<void> {
  const { bytes, weightBytes } = build(kind, m, dims);
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'all', extra: { session: extra } });
  const x = new ort.Tensor('float32', rand(m * dims[0][0], 3), [m, dims[0][0]]);
  await s.run({ x });
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await s.run({ x });
  const ms = (performance.now() - t0) / reps;
  const flops = dims.reduce((a, [k, n]) => a + 2 * m * k * n, 0);
  console.log(`${kind.name.padEnd(26)} M=${String(m).padStart(3)} ${ms.toFixed(2).padStart(9)} ms  ${(weightBytes / ms / 1e6).toFixed(1).padStart(6)} GB/s  ${(flops / ms / 1e6).toFixed(0).padStart(5)} GFLOP/s ${Object.keys(extra).length ? JSON.stringify(extra) : ''}`);
  await s.release();
}

const KINDS: Kind[] = [
  { name: 'fp32', kind: 'fp32' },
  { name: 'int4 b32 acc4 sym', kind: 'nbits', bits: 4, block: 32, acc: 4, sym: true },
  { name: 'int4 b32 acc4 asym', kind: 'nbits', bits: 4, block: 32, acc: 4, sym: false },
  { name: 'int4 b64 acc4 sym', kind: 'nbits', bits: 4, block: 64, acc: 4, sym: true },
  { name: 'int4 b128 acc4 sym', kind: 'nbits', bits: 4, block: 128, acc: 4, sym: true },
  { name: 'int4 b32 acc0 sym', kind: 'nbits', bits: 4, block: 32, acc: 0, sym: true },
  { name: 'int4 b32 acc1 sym', kind: 'nbits', bits: 4, block: 32, acc: 1, sym: true },
  { name: 'int8 b32 acc4 sym', kind: 'nbits', bits: 8, block: 32, acc: 4, sym: true },
  { name: 'int8 b128 acc4 sym', kind: 'nbits', bits: 8, block: 128, acc: 4, sym: true },
  { name: 'int8 dyn per-column', kind: 'dqmm' },
];
const only = process.argv.slice(2);
const kinds = only.length ? KINDS.filter((k) => only.some((o) => k.name.includes(o))) : KINDS;
const opt: [number, number][] = [];
for (let i = 0; i < Number(process.env.PAIRS ?? 4); i++) opt.push([2560, 10240], [10240, 2560]); // 8 matrices, 210M weights
const vit: [number, number][] = [[1408, 6144], [6144, 1408]];
const ms = (process.env.MS ?? '1,33,257').split(',').map(Number);
for (const k of kinds) {
  try {
    if (ms.includes(1)) await time(k, 1, opt, 10);
    if (ms.includes(33)) await time(k, 33, opt, 3);
    if (ms.includes(257)) await time(k, 257, vit, 5);
  } catch (e) {
    console.log(`${k.name}: ${(e as Error).message.split('\n')[0]}`);
  }
}
