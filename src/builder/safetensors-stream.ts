// A safetensors file read as one sequential stream (a download, or a local file read in order):
// given the file's header, it cuts the incoming bytes into whole tensors in file order. Pure and
// restartable: a parser made at any tensor boundary (`position`) carries on from there, which is
// how an interrupted download resumes with an HTTP Range request.
import { AppError } from '../shared/errors.ts';
import type { Dtype, Entry } from './safetensors.ts';

export interface LaidOutTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute file positions [begin, end). */
  begin: number;
  end: number;
}

export type StreamEvent =
  | { kind: 'bytes'; bytes: Uint8Array; position: number }
  | { kind: 'tensor'; tensor: LaidOutTensor; bytes: Uint8Array; end: number };

export function layoutOf(entries: Map<string, Entry>): LaidOutTensor[] {
  return [...entries].map(([name, e]) => ({ name, dtype: e.dtype, shape: [...e.shape], begin: e.begin, end: e.begin + e.byteLength }))
    .sort((a, b) => a.begin - b.begin || a.end - b.end);
}

export class TensorStream {
  private next: number;
  private buf?: Uint8Array;
  private pos: number;

  /** `position` must be 0 or the end of a tensor (where an earlier stream stopped cleanly). */
  /**
   * `alloc` gives the buffer a tensor's bytes are gathered in (a reused scratch buffer: the 'tensor'
   * event's bytes are then valid only until the next push).
   */
  constructor(private readonly tensors: readonly LaidOutTensor[], readonly size: number, readonly file: string, position = 0,
    private readonly alloc: (n: number) => Uint8Array = (n) => new Uint8Array(new ArrayBuffer(n))) {
    this.pos = position;
    this.next = tensors.findIndex((t) => t.end > position || (t.begin >= position && t.end === t.begin));
    if (this.next < 0) this.next = tensors.length;
    const t = tensors[this.next];
    if (t && t.begin < position) {
      throw new AppError('invalid_argument', `cannot resume at byte ${position}: inside tensor "${t.name}"`, { file });
    }
  }

  get position(): number { return this.pos; }
  get done(): boolean { return this.pos >= this.size; }
  /** The tensor being received (or next), for progress messages. */
  get current(): string | undefined { return this.tensors[this.next]?.name; }

  /** The chunk's bytes (as 'bytes' events, in order) interleaved with each tensor it completes. */
  push(chunk: Uint8Array): StreamEvent[] {
    const events: StreamEvent[] = [];
    if (this.pos + chunk.byteLength > this.size) {
      throw new AppError('checkpoint_invalid', `more bytes than the ${this.size} the file should have`, { file: this.file });
    }
    let at = 0;
    while (at < chunk.byteLength || this.emptyTensorDue()) {
      const t = this.tensors[this.next];
      if (t && t.begin === t.end && t.begin <= this.pos) { // zero-size tensor
        events.push({ kind: 'tensor', tensor: t, bytes: new Uint8Array(0), end: this.pos });
        this.next++;
        continue;
      }
      // Bytes up to the next boundary: the start or end of the next tensor, or the chunk's end.
      const boundary = !t ? this.size : this.pos < t.begin ? t.begin : t.end;
      const take = Math.min(chunk.byteLength - at, boundary - this.pos);
      const piece = chunk.subarray(at, at + take);
      if (t && this.pos >= t.begin) {
        this.buf ??= this.alloc(t.end - t.begin);
        this.buf.set(piece, this.pos - t.begin);
      }
      events.push({ kind: 'bytes', bytes: piece, position: this.pos });
      this.pos += take;
      at += take;
      if (t && this.pos === t.end && this.buf) {
        events.push({ kind: 'tensor', tensor: t, bytes: this.buf, end: this.pos });
        this.buf = undefined;
        this.next++;
      }
    }
    return events;
  }

  private emptyTensorDue(): boolean {
    const t = this.tensors[this.next];
    return !!t && t.begin === t.end && t.begin <= this.pos;
  }
}
