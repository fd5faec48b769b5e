// The OPT decoder graph behind the generation engine's DecoderStepper interface. The KV cache is a
// KvCache (kv-cache.ts): each step feeds the keys/values so far and appends the new tokens' ones;
// beam search's row changes are row copies there.
import { AppError } from '../../shared/errors.ts';
import type { ModelManifest } from '../../shared/model-manifest.ts';
import type { DecoderStepper } from '../generation/types.ts';
import { floatTensor, int64Tensor, type ort, run } from '../session.ts';
import { KvCache, isIdentity } from './kv-cache.ts';

type Lang = NonNullable<ModelManifest['shapes']['language']>;

export class OptDecoderStepper implements DecoderStepper {
  readonly vocabSize: number;
  private readonly cache: KvCache;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly lang: Lang,
    /** Projected query embeddings [queries × hidden] for one image. */
    private readonly prefix: Float32Array,
    private readonly promptIds: readonly number[],
  ) {
    this.vocabSize = lang.vocabRows;
    this.cache = new KvCache(lang.layers, lang.heads * lang.headDim);
  }

  async prefill(): Promise<Float32Array> {
    const { hidden } = this.lang;
    const queries = this.prefix.length / hidden;
    const seq = queries + this.promptIds.length;
    this.checkLength(seq);
    this.cache.reset();
    // Causal mask over [queries; prompt]; OPT positions count the query slots too.
    const bias = new Float32Array(seq * seq);
    for (let r = 0; r < seq; r++) bias.fill(-Infinity, r * seq + r + 1, (r + 1) * seq);
    const logits = await this.step({
      input_ids: int64Tensor(this.promptIds, [1, this.promptIds.length]),
      prefix_embeds: floatTensor(this.prefix, [1, queries, hidden]),
      position_ids: int64Tensor(Array.from({ length: seq }, (_, i) => i), [1, seq]),
      attention_bias: floatTensor(bias, [1, 1, seq, seq]),
    }, seq);
    return logits;
  }

  async next(tokens: readonly number[], parents: readonly number[]): Promise<Float32Array> {
    const rows = tokens.length;
    const length = this.cache.length;
    this.checkLength(length + 1);
    // Beam search moved or expanded rows: copy the cache rows once; greedy steps never do.
    if (!isIdentity(parents, this.cache.rows)) this.cache.reorder(parents);
    return this.step({
      input_ids: int64Tensor(tokens, [rows, 1]),
      prefix_embeds: floatTensor(new Float32Array(0), [rows, 0, this.lang.hidden]),
      position_ids: int64Tensor(new Array<number>(rows).fill(length), [rows, 1]),
      attention_bias: floatTensor(new Float32Array(rows * (length + 1)), [rows, 1, 1, length + 1]),
    }, 1);
  }

  private async step(feeds: Record<string, ort.Tensor>, added: number): Promise<Float32Array> {
    const out = await run(this.session, { ...feeds, ...this.cache.feeds() }, 'language model step');
    this.cache.append(out, added);
    return out.logits.data as Float32Array;
  }

  private checkLength(total: number): void {
    if (total > this.lang.maxPositions) {
      throw new AppError('invalid_argument', `the image queries, prompt and answer would take ${total} positions, more than the language model's ${this.lang.maxPositions}: use a shorter prompt or fewer new tokens`);
    }
  }
}
