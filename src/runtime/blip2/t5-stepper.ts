// T5 (encoder-decoder) behind the generation engine's DecoderStepper interface. prefill runs the
// encoder once over [queries; prompt], which also yields every decoder layer's cross-attention
// keys/values, then the decoder's first step from the decoder start token. Each next() feeds one
// token per row; the self-attention cache stays in ORT tensors and follows beam search's row changes
// through CacheReorder, as OPT's does. The cross-attention K/V never change: every row holds the same
// ones (one image, one prompt), so they are only gathered when the row count changes (1 → beams).
import { AppError } from '../../shared/errors.ts';
import type { DecoderStepper } from '../generation/types.ts';
import { floatTensor, int64Tensor, type ort, run } from '../session.ts';
import { type CacheReorder, isIdentity } from './cache-reorder.ts';

export interface T5Graphs {
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  /** Over past_key_values.* */
  reorderPast: CacheReorder;
  /** Over cross_key_values.* */
  reorderCross: CacheReorder;
}

export interface T5Sizes {
  hidden: number; layers: number; heads: number; headDim: number; vocabRows: number; maxPositions: number;
}

export class T5Stepper implements DecoderStepper {
  readonly vocabSize: number;
  private past: Record<string, ort.Tensor> = {};
  private cross: Record<string, ort.Tensor> = {};
  /** Decoder positions used so far (the start token included). */
  private length = 0;
  private rows = 1;
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
  }

  async prefill(): Promise<Float32Array> {
    const { hidden, heads, headDim, layers } = this.lang;
    const queries = this.prefix.length / hidden;
    const enc = await run(this.graphs.encoder, {
      prefix_embeds: floatTensor(this.prefix, [1, queries, hidden]),
      input_ids: int64Tensor(this.promptIds, [1, this.promptIds.length]),
    }, 'T5 encoder');
    this.encoderHiddenStates = enc.encoder_hidden_states.data as Float32Array;
    const empty = floatTensor(new Float32Array(0), [1, heads, 0, headDim]);
    for (let i = 0; i < layers; i++) {
      for (const kv of ['key', 'value']) {
        this.cross[`cross_key_values.${i}.${kv}`] = enc[`cross_key_values.${i}.${kv}`];
        this.past[`past_key_values.${i}.${kv}`] = empty;
      }
    }
    this.rows = 1;
    this.length = 0;
    return this.step([this.decoderStart]);
  }

  async next(tokens: readonly number[], parents: readonly number[]): Promise<Float32Array> {
    if (!isIdentity(parents, this.rows)) this.past = await this.graphs.reorderPast.apply(this.past, parents);
    if (tokens.length !== this.rows) this.cross = await this.graphs.reorderCross.apply(this.cross, parents);
    this.rows = tokens.length;
    return this.step(tokens);
  }

  private async step(tokens: readonly number[]): Promise<Float32Array> {
    if (this.length + 1 > this.lang.maxPositions) {
      throw new AppError('invalid_argument', `the answer would take more than the T5 decoder's ${this.lang.maxPositions} positions: ask for fewer new tokens`);
    }
    const out = await run(this.graphs.decoder, {
      input_ids: int64Tensor(tokens, [tokens.length, 1]),
      ...this.past,
      ...this.cross,
    }, 'T5 decoder step');
    for (let i = 0; i < this.lang.layers; i++) {
      this.past[`past_key_values.${i}.key`] = out[`present.${i}.key`];
      this.past[`past_key_values.${i}.value`] = out[`present.${i}.value`];
    }
    this.length += 1;
    return out.logits.data as Float32Array;
  }
}
