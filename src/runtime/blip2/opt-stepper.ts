// The OPT decoder graph behind the generation engine's DecoderStepper interface. The KV cache
// stays in ONNX Runtime tensors: each step's `present.*` outputs are fed back as `past_key_values.*`,
// and beam search's row changes go through CacheReorder (only on the steps that need it).
import { AppError } from '../../shared/errors.ts';
import type { ModelManifest } from '../../shared/model-manifest.ts';
import type { DecoderStepper } from '../generation/types.ts';
import { floatTensor, int64Tensor, ort, run } from '../session.ts';
import { type CacheReorder, isIdentity } from './cache-reorder.ts';

type Lang = NonNullable<ModelManifest['shapes']['language']>;

export class OptDecoderStepper implements DecoderStepper {
  readonly vocabSize: number;
  private past: Record<string, ort.Tensor> = {};
  private length = 0;

  private rows = 1;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly reorder: CacheReorder,
    private readonly lang: Lang,
    /** Projected query embeddings [queries × hidden] for one image. */
    private readonly prefix: Float32Array,
    private readonly promptIds: readonly number[],
  ) {
    this.vocabSize = lang.vocabRows;
  }

  async prefill(): Promise<Float32Array> {
    const { hidden, heads, headDim, layers } = this.lang;
    const queries = this.prefix.length / hidden;
    const seq = queries + this.promptIds.length;
    this.checkLength(seq);
    const empty = floatTensor(new Float32Array(0), [1, heads, 0, headDim]);
    for (let i = 0; i < layers; i++) {
      this.past[`past_key_values.${i}.key`] = empty;
      this.past[`past_key_values.${i}.value`] = empty;
    }
    // Causal mask over [queries; prompt]; OPT positions count the query slots too.
    const bias = new Float32Array(seq * seq);
    for (let r = 0; r < seq; r++) bias.fill(-Infinity, r * seq + r + 1, (r + 1) * seq);
    const logits = await this.step({
      input_ids: int64Tensor(this.promptIds, [1, this.promptIds.length]),
      prefix_embeds: floatTensor(this.prefix, [1, queries, hidden]),
      position_ids: int64Tensor(Array.from({ length: seq }, (_, i) => i), [1, seq]),
      attention_bias: floatTensor(bias, [1, 1, seq, seq]),
    });
    this.length = seq;
    this.rows = 1;
    return logits;
  }

  async next(tokens: readonly number[], parents: readonly number[]): Promise<Float32Array> {
    const rows = tokens.length;
    this.checkLength(this.length + 1);
    // Beam search moved or expanded rows: gather the cache once; greedy steps never copy it.
    if (!isIdentity(parents, this.rows)) this.past = await this.reorder.apply(this.past, parents);
    this.rows = rows;
    const logits = await this.step({
      input_ids: int64Tensor(tokens, [rows, 1]),
      prefix_embeds: floatTensor(new Float32Array(0), [rows, 0, this.lang.hidden]),
      position_ids: int64Tensor(new Array<number>(rows).fill(this.length), [rows, 1]),
      attention_bias: floatTensor(new Float32Array(rows * (this.length + 1)), [rows, 1, 1, this.length + 1]),
    });
    this.length += 1;
    return logits;
  }

  private async step(feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
    const out = await run(this.session, { ...feeds, ...this.past }, 'language model step');
    for (let i = 0; i < this.lang.layers; i++) {
      this.past[`past_key_values.${i}.key`] = out[`present.${i}.key`];
      this.past[`past_key_values.${i}.value`] = out[`present.${i}.value`];
    }
    return out.logits.data as Float32Array;
  }

  private checkLength(total: number): void {
    if (total > this.lang.maxPositions) {
      throw new AppError('invalid_argument', `the image queries, prompt and answer would take ${total} positions, more than the language model's ${this.lang.maxPositions}: use a shorter prompt or fewer new tokens`);
    }
  }
}
