// How graph builders get their weights. A graph never reads a tensor itself: it asks for "HF tensor X
// through recipe R" and gets initializer names back. A recipe turns one source tensor into one or more
// initializers and can say their names, types and shapes from the source's shape alone, so a
// conversion can plan every graph before any weight byte arrives, transform each tensor the moment it
// streams past (in whatever order the checkpoint stores them), and build the graphs at the end from
// the stored results (stream-convert.ts).
import { DT, type DataType, type GraphBuilder } from '../../onnx/graph-builder.ts';
import { toF16 } from '../../onnx/float16.ts';
import { type BlockQuantConfig, packedSizes, quantizeBlocks, quantizePerChannelInt8 } from './quantize.ts';

export interface WeightOutput {
  name: string;
  type: DataType;
  dims: number[];
}

export interface Recipe {
  /** Stable id: the same recipe on the same source always gives the same outputs. */
  readonly id: string;
  outputs(source: string, shape: number[]): WeightOutput[];
  /**
   * The outputs' bytes, in the order of outputs(). With `scratch` they may live in reused buffers,
   * valid only until the next apply: the caller must write them out first.
   */
  apply(values: Float32Array, shape: number[], scratch?: Scratch): Uint8Array[];
}

/** Where a graph's initializers come from. `use` is idempotent per graph and output name. */
export interface Weights {
  use(g: GraphBuilder, source: string, recipe: Recipe): string[];
}

const bytesOf = (a: Float32Array | Uint16Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Grow-only buffers reused tensor after tensor. A conversion handles ~1,000 tensors of up to 0.5 GB;
 * fresh typed arrays that size cost more in page faults than the arithmetic (measured: a fresh
 * Float32Array filled at ~60 M values/s, a reused one at ~650 M/s).
 */
export class Scratch {
  private readonly slots = new Map<string, ArrayBuffer>();

  bytes(slot: string, n: number): Uint8Array {
    let buf = this.slots.get(slot);
    if (!buf || buf.byteLength < n) {
      buf = new ArrayBuffer(Math.ceil(n / 4096) * 4096);
      this.slots.set(slot, buf);
    }
    return new Uint8Array(buf, 0, n);
  }

  f32(slot: string, n: number): Float32Array {
    const b = this.bytes(slot, n * 4);
    return new Float32Array(b.buffer, 0, n);
  }

  u16(slot: string, n: number): Uint16Array {
    const b = this.bytes(slot, n * 2);
    return new Uint16Array(b.buffer, 0, n);
  }
}

export const asIs: Recipe = {
  id: 'f32',
  outputs: (source, shape) => [{ name: source, type: DT.FLOAT, dims: [...shape] }],
  apply: (values) => [bytesOf(values)],
};

/** An HF Linear weight [out, in] stored as [in, out], so every projection is a plain MatMul. */
export const transposed: Recipe = {
  id: 'T',
  outputs: (source, [rows, cols]) => [{ name: `${source}.T`, type: DT.FLOAT, dims: [cols, rows] }],
  apply: (values, [rows, cols], scratch) => [bytesOf(transpose2d(values, rows, cols, scratch?.f32('out0', values.length)))],
};

/** A lookup table in float16 (gathered then cast to float32): half the memory. */
export const float16: Recipe = {
  id: 'f16',
  outputs: (source, shape) => [{ name: `${source}.f16`, type: DT.FLOAT16, dims: [...shape] }],
  apply: (values, _shape, scratch) => [bytesOf(toF16(values, scratch?.u16('out0', values.length)))],
};

/** Weight-only block quantization for MatMulNBits: packed data, scales[, zero points]. */
export function blockQuantized(q: BlockQuantConfig): Recipe {
  return {
    id: `q${q.bits}b${q.blockSize}${q.symmetric ? 's' : 'a'}`,
    outputs: (source, [n, k]) => {
      const base = `${source}.q${q.bits}`;
      const blocks = Math.ceil(k / q.blockSize);
      const out: WeightOutput[] = [
        { name: `${base}.data`, type: DT.UINT8, dims: [n, blocks, (q.blockSize * q.bits) / 8] },
        { name: `${base}.scales`, type: DT.FLOAT, dims: [n, blocks] },
      ];
      if (!q.symmetric) out.push({ name: `${base}.zero_points`, type: DT.UINT8, dims: [n, Math.ceil((blocks * q.bits) / 8)] });
      return out;
    },
    apply: (values, [n, k], scratch) => {
      const size = packedSizes(n, k, q);
      const into = scratch && { data: scratch.bytes('out0', size.data), scales: scratch.f32('out1', size.scales), ...(size.zeroPoints ? { zeroPoints: scratch.bytes('out2', size.zeroPoints) } : {}) };
      const p = quantizeBlocks(values, n, k, q, into);
      return p.zeroPoints ? [p.data, bytesOf(p.scales), p.zeroPoints] : [p.data, bytesOf(p.scales)];
    },
  };
}

/** Per-output-channel int8 for DynamicQuantizeMatMul: B int8 [in, out] and scales [out]. */
export const perChannelInt8: Recipe = {
  id: 'q8c',
  outputs: (source, [n, k]) => [
    { name: `${source}.q8c.data`, type: DT.INT8, dims: [k, n] },
    { name: `${source}.q8c.scales`, type: DT.FLOAT, dims: [n] },
  ],
  apply: (values, [n, k], scratch) => {
    const into = scratch && { data: new Int8Array(scratch.bytes('out0', n * k).buffer, 0, n * k), scales: scratch.f32('out1', n) };
    const p = quantizePerChannelInt8(values, n, k, into);
    return [new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength), bytesOf(p.scales)];
  },
};

/** Reads a source tensor as float32 (F16/BF16 widened). */
export interface TensorReader {
  shape(name: string): number[];
  read(name: string): Float32Array;
}

/** Weights read and transformed on demand, in graph order (small graphs and tests). */
export function eagerWeights(src: TensorReader): Weights {
  return {
    use(g, source, recipe) {
      const shape = src.shape(source);
      const outs = recipe.outputs(source, shape);
      if (outs.every((o) => g.has(o.name))) return outs.map((o) => o.name);
      const bytes = recipe.apply(src.read(source), shape);
      return outs.map((o, i) => g.tensor(o.name, o.type, bytes[i], o.dims));
    },
  };
}

export function transpose2d(w: Float32Array, rows: number, cols: number, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[base + c];
  }
  return out;
}

const ELEMENT_BYTES: Partial<Record<DataType, number>> = { [DT.FLOAT]: 4, [DT.FLOAT16]: 2, [DT.UINT8]: 1, [DT.INT8]: 1, [DT.INT64]: 8 };

export function outputBytes(o: WeightOutput): number {
  const size = ELEMENT_BYTES[o.type];
  if (!size) throw new Error(`no element size for ONNX type ${o.type}`);
  return o.dims.reduce((a, b) => a * b, 1) * size;
}
