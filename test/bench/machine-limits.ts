// This machine's limits, measured in the same run as the model so ratios stay meaningful on a
// noisy machine: memory bandwidth (a large streaming read) and fp32 GEMM throughput, both in
// ONNX Runtime with all its threads.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ExternalDataWriter } from '../../src/onnx/external-data.ts';
import { GraphBuilder } from '../../src/onnx/graph-builder.ts';
import { FLOAT } from '../../src/builder/onnx/layers.ts';

export interface MachineLimits { bandwidthGBs: number; gemmGflops: number }

async function best(runs: number, fn: () => Promise<void>): Promise<number> {
  let t = Infinity;
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    t = Math.min(t, performance.now() - s);
  }
  return t / 1000;
}

async function session(dir: string, name: string, build: (g: GraphBuilder) => void, level: 'disabled' | 'all' = 'all'): Promise<ort.InferenceSession> {
  const data = new ExternalDataWriter(join(dir, `${name}.onnx.data`));
  const g = new GraphBuilder(name, data);
  build(g);
  writeFileSync(join(dir, `${name}.onnx`), g.serialize({ '': 17 }));
  data.finish();
  return ort.InferenceSession.create(join(dir, `${name}.onnx`), { graphOptimizationLevel: level });
}

export async function measureMachineLimits(): Promise<MachineLimits> {
  const dir = mkdtempSync(join(tmpdir(), 'pa-limits-'));
  try {
    // Bandwidth: ReduceSum over a 1 GiB weight (an initializer, like model weights), 2 rows so both cores read.
    const n = 2 ** 28;
    const bw = await session(dir, 'bw', (g) => {
      const x = g.input('x', FLOAT, [1]);
      const w = g.weight('w', new Float32Array(n).fill(1), [2, n / 2]);
      const s = g.op('ReduceSum', [w, g.ints([1])], { name: '/sum', attrs: { keepdims: 0 } });
      g.bindOutput(g.op('Mul', [s, x], { name: '/mul' }), 'y', FLOAT, [2]);
    }, 'disabled'); // no constant folding: the sum must really be read each run
    const one = { x: new ort.Tensor('float32', new Float32Array([1]), [1]) };
    await bw.run(one);
    const tb = await best(5, async () => void (await bw.run(one)));
    await bw.release();

    // GEMM: [1024 × 4096] · [4096 × 4096] fp32.
    const [m, k, nn] = [1024, 4096, 4096];
    const mm = await session(dir, 'mm', (g) => {
      const a = g.input('a', FLOAT, [m, k]);
      const w = new Float32Array(k * nn);
      for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761) % 1000) / 1e5;
      g.bindOutput(g.op('MatMul', [a, g.weight('b', w, [k, nn])], { name: '/mm' }), 'y', FLOAT, [m, nn]);
    });
    const feeds = { a: new ort.Tensor('float32', new Float32Array(m * k).fill(0.01), [m, k]) };
    await mm.run(feeds);
    const tm = await best(5, async () => void (await mm.run(feeds)));
    await mm.release();
    return { bandwidthGBs: (n * 4) / tb / 1e9, gemmGflops: (2 * m * k * nn) / tm / 1e9 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await measureMachineLimits()));
}
