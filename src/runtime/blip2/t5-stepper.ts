// T5 (encoder-decoder) behind the generation engine's DecoderStepper interface. prefill runs the
// encoder once over [queries; prompt], which also yields every decoder layer's cross-attention
// keys/values, then the decoder's first step from the decoder start token. Each next() feeds one
// token per row; the self-attention cache is a KvCache (kv-cache.ts), as OPT's is. The cross-attention
// K/V never change: every row holds the same ones (one image, one prompt), so they are only
// repeated when the row count changes (1 → beams).
import { AppError } from '../../shared/errors.ts';
import type { DecoderStepper } from '../generation/types.ts';
import { floatTensor, int64Tensor, ort, run } from '../session.ts';
import { KvCache, isIdentity } from './kv-cache.ts';

export interface T5Graphs {
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
}

export interface T5Sizes {
  hidden: number; layers: number; heads: number; headDim: number; vocabRows: number; maxPositions: number;
}

export class T5Stepper implements DecoderStepper {
  readonly vocabSize: number;
  private readonly cache: KvCache;
  /** The encoder's cross-attention K/V for one row, and as fed for the current row count. */
  private crossOne: Record<string, ort.Tensor> = {};
  private cross: Record<string, ort.Tensor> = {};
  /** The encoder's output [1, queries + prompt, hidden] of the last prefill (for parity checks). */
  encoderHiddenStates?: Float32Array;

  constructor(
    private readonly graphs: T5Graphs,
    private readonly lang: T5Sizes,
    /** Projected query embeddings [queries × hidden] for one image. */
    private readonly prefix: Float32Array,
    private readonly promptIds: readonly number[],
    private readonly decoderStart: number,
  ) {
    this.vocabSize = lang.vocabRows;
    this.cache = new KvCache(lang.layers, lang.heads * lang.headDim);
  }

  async prefill(): Promise<Float32Array> {
    const { hidden, layers } = this.lang;
    const queries = this.prefix.length / hidden;
    const enc = await run(this.graphs.encoder, {
      prefix_embeds: floatTensor(this.prefix, [1, queries, hidden]),
      input_ids: int64Tensor(this.promptIds, [1, this.promptIds.length]),
    }, 'T5 encoder');
    this.encoderHiddenStates = enc.encoder_hidden_states.data as Float32Array;
    this.crossOne = {};
    for (let i = 0; i < layers; i++) {
      for (const kv of ['key', 'value']) this.crossOne[`cross_key_values.${i}.${kv}`] = enc[`cross_key_values.${i}.${kv}`];
    }
    this.cross = this.crossOne;
    this.cache.reset();
    return this.step([this.decoderStart]);
  }

  async next(tokens: readonly number[], parents: readonly number[]): Promise<Float32Array> {
    if (tokens.length !== this.cache.rows) this.cross = repeatRows(this.crossOne, tokens.length);
    if (!isIdentity(parents, this.cache.rows)) this.cache.reorder(parents);
    return this.step(tokens);
  }

  private async step(tokens: readonly number[]): Promise<Float32Array> {
    if (this.cache.length + 1 > this.lang.maxPositions) {
      throw new AppError('invalid_argument', `the answer would take more than the T5 decoder's ${this.lang.maxPositions} positions: ask for fewer new tokens`);
    }
    const out = await run(this.graphs.decoder, {
      input_ids: int64Tensor(tokens, [tokens.length, 1]),
      ...this.cache.feeds(),
      ...this.cross,
    }, 'T5 decoder step');
    this.cache.append(out, 1);
    return out.logits.data as Float32Array;
  }
}

/** One-row tensors [1, ...] repeated to `rows` identical rows. */
function repeatRows(one: Record<string, ort.Tensor>, rows: number): Record<string, ort.Tensor> {
  if (rows === 1) return one;
  return Object.fromEntries(Object.entries(one).map(([name, t]) => {
    const src = t.data as Float32Array;
    const data = new Float32Array(src.length * rows);
    for (let r = 0; r < rows; r++) data.set(src, r * src.length);
    return [name, new ort.Tensor('float32', data, [rows, ...t.dims.slice(1)])];
  }));
}
