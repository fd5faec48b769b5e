// How graph builders get their weights. A graph never reads a tensor itself: it asks for "HF tensor X
// through recipe R" and gets initializer names back. A recipe turns one source tensor into one or more
// initializers and can say their names, types and shapes from the source's shape alone, so a
// conversion can plan every graph before any weight byte arrives, transform each tensor the moment it
// streams past (in whatever order the checkpoint stores them), and build the graphs at the end from
// the stored results (stream-convert.ts).
import { DT, type DataType, type GraphBuilder } from './graph-builder.ts';
import { toF16 } from './float16.ts';
import { type BlockQuantConfig, quantizeBlocks } from './quantize.ts';

export interface WeightOutput {
  name: string;
  type: DataType;
  dims: number[];
}

export interface Recipe {
  /** Stable id: the same recipe on the same source always gives the same outputs. */
  readonly id: string;
  outputs(source: string, shape: number[]): WeightOutput[];
  /** The outputs' bytes, in the order of outputs(). */
  apply(values: Float32Array, shape: number[]): Uint8Array[];
}

/** Where a graph's initializers come from. `use` is idempotent per graph and output name. */
export interface Weights {
  use(g: GraphBuilder, source: string, recipe: Recipe): string[];
}

const bytesOf = (a: Float32Array | Uint16Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export const asIs: Recipe = {
  id: 'f32',
  outputs: (source, shape) => [{ name: source, type: DT.FLOAT, dims: [...shape] }],
  apply: (values) => [bytesOf(values)],
};

/** An HF Linear weight [out, in] stored as [in, out], so every projection is a plain MatMul. */
export const transposed: Recipe = {
  id: 'T',
  outputs: (source, [rows, cols]) => [{ name: `${source}.T`, type: DT.FLOAT, dims: [cols, rows] }],
  apply: (values, [rows, cols]) => [bytesOf(transpose2d(values, rows, cols))],
};

/** A lookup table in float16 (gathered then cast to float32): half the memory. */
export const float16: Recipe = {
  id: 'f16',
  outputs: (source, shape) => [{ name: `${source}.f16`, type: DT.FLOAT16, dims: [...shape] }],
  apply: (values) => [bytesOf(toF16(values))],
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
    apply: (values, [n, k]) => {
      const p = quantizeBlocks(values, n, k, q);
      return p.zeroPoints ? [p.data, bytesOf(p.scales), p.zeroPoints] : [p.data, bytesOf(p.scales)];
    },
  };
}

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

export function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[base + c];
  }
  return out;
}

const ELEMENT_BYTES: Partial<Record<DataType, number>> = { [DT.FLOAT]: 4, [DT.FLOAT16]: 2, [DT.UINT8]: 1, [DT.INT64]: 8 };

export function outputBytes(o: WeightOutput): number {
  const size = ELEMENT_BYTES[o.type];
  if (!size) throw new Error(`no element size for ONNX type ${o.type}`);
  return o.dims.reduce((a, b) => a * b, 1) * size;
}
