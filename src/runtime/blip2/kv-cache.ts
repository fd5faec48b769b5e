// A decoder's self-attention cache in the runtime's own memory. Each step the graph takes the keys
// and values so far (`past_key_values.{i}.{key,value}` [rows, length, width]) and returns only the
// new tokens' ones (`new_key_values.{i}.*` [rows, new, width]), which are appended here. Nothing the
// size of the cache comes back out of ONNX Runtime, and nothing is allocated per step: with one row
// the inputs are views of these buffers; with several (beam search) they are packed into one
// reused scratch buffer. Beam search's row changes (reorder, 1 → beams) are row copies here.
//
//   buffer per layer and key/value: [rows][capacity][width], capacity doubling as the text grows
import { ort } from '../session.ts';

/** True when every row continues its own row: the cache stays as it is. */
export function isIdentity(parents: readonly number[], previousRows: number): boolean {
  return parents.length === previousRows && parents.every((p, i) => p === i);
}

export class KvCache {
  private buffers: Float32Array[] = [];
  private scratch: Float32Array[] = [];
  private spare: Float32Array[] = [];
  private capacity = 0;
  private rowCount = 1;
  private used = 0;
  private readonly names: string[];

  constructor(layers: number, private readonly width: number) {
    this.names = Array.from({ length: layers }, (_, i) => [`${i}.key`, `${i}.value`]).flat();
  }

  /** Positions cached so far. */
  get length(): number {
    return this.used;
  }

  get rows(): number {
    return this.rowCount;
  }

  /** Empties the cache for a new sequence of one row (buffers are kept for reuse). */
  reset(): void {
    this.used = 0;
    this.rowCount = 1;
  }

  /** The graph's cache inputs for the next step. */
  feeds(): Record<string, ort.Tensor> {
    const { width, used, rowCount: rows, capacity } = this;
    const feeds: Record<string, ort.Tensor> = {};
    this.names.forEach((name, j) => {
      let data: Float32Array;
      if (used === 0) data = new Float32Array(0);
      else if (rows === 1) data = this.buffers[j].subarray(0, used * width);
      else {
        const need = rows * used * width;
        if (!this.scratch[j] || this.scratch[j].length < rows * capacity * width) this.scratch[j] = new Float32Array(rows * capacity * width);
        for (let r = 0; r < rows; r++) this.scratch[j].set(this.buffers[j].subarray(r * capacity * width, (r * capacity + used) * width), r * used * width);
        data = this.scratch[j].subarray(0, need);
      }
      feeds[`past_key_values.${name}`] = new ort.Tensor('float32', data, [rows, used, width]);
    });
    return feeds;
  }

  /** Appends the step's `new_key_values.*` outputs ([rows, added, width]) after the cached positions. */
  append(out: ort.InferenceSession.OnnxValueMapType, added: number): void {
    const { width, rowCount: rows } = this;
    this.ensureCapacity(this.used + added);
    const cap = this.capacity;
    this.names.forEach((name, j) => {
      const t = out[`new_key_values.${name}`];
      if (!t || t.dims[0] !== rows || t.dims[1] !== added) {
        throw new Error(`decoder output new_key_values.${name} has shape [${t?.dims.join(', ')}], expected [${rows}, ${added}, ${width}]`);
      }
      const data = t.data as Float32Array;
      for (let r = 0; r < rows; r++) this.buffers[j].set(data.subarray(r * added * width, (r + 1) * added * width), (r * cap + this.used) * width);
    });
    this.used += added;
  }

  /** Row r becomes old row parents[r] (beam search moved or expanded its rows). */
  reorder(parents: readonly number[]): void {
    const { width, used, capacity: cap } = this;
    const size = parents.length * cap * width;
    this.names.forEach((_, j) => {
      const src = this.buffers[j];
      const dst = this.spare[j] && this.spare[j].length >= size ? this.spare[j] : new Float32Array(size);
      parents.forEach((p, r) => dst.set(src.subarray(p * cap * width, (p * cap + used) * width), r * cap * width));
      this.spare[j] = src;
      this.buffers[j] = dst;
    });
    this.rowCount = parents.length;
  }

  private ensureCapacity(positions: number): void {
    if (positions <= this.capacity && this.buffers.length) return;
    const { width, used, rowCount: rows } = this;
    const old = this.capacity;
    let cap = Math.max(64, old);
    while (cap < positions) cap *= 2;
    this.names.forEach((_, j) => {
      const next = new Float32Array(rows * cap * width);
      const prev = this.buffers[j];
      if (prev) for (let r = 0; r < rows; r++) next.set(prev.subarray(r * old * width, (r * old + used) * width), r * cap * width);
      this.buffers[j] = next;
    });
    this.spare = [];
    this.scratch = [];
    this.capacity = cap;
  }
}
