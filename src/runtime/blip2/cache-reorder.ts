// Beam search's cache bookkeeping: a tiny graph that gathers KV-cache rows by parent index
// (reordering beams, or expanding the prompt's single row to every beam). Built in memory with the
// builder's GraphBuilder (no weights, so nothing to convert) and run only on steps where rows change.
//   past.{i}.{key,value} [B0,h,L,d] ─Gather(parents, axis 0)─▶ [B,h,L,d]
import { DT, GraphBuilder } from '../../onnx/graph-builder.ts';
import { createSessionFromBytes, int64Tensor, type ort, run, type SessionSettings } from '../session.ts';

export class CacheReorder {
  private constructor(private readonly session: ort.InferenceSession, private readonly names: string[]) {}

  static async create(names: string[], settings: SessionSettings = {}): Promise<CacheReorder> {
    const g = new GraphBuilder('cache_reorder');
    const index = g.input('parents', DT.INT64, ['batch']);
    for (const [k, name] of names.entries()) {
      const x = g.input(name, DT.FLOAT, ['past_batch', 'heads', 'length', 'head_dim']);
      g.bindOutput(g.op('Gather', [x, index], { name: `/reorder/${k}/Gather`, attrs: { axis: 0 } }), `out.${k}`, DT.FLOAT, ['batch', 'heads', 'length', 'head_dim']);
    }
    return new CacheReorder(await createSessionFromBytes(g.serialize({ '': 17 }), settings), names);
  }

  /** New cache tensors where row i is old row parents[i]. */
  async apply(past: Record<string, ort.Tensor>, parents: readonly number[]): Promise<Record<string, ort.Tensor>> {
    const feeds: Record<string, ort.Tensor> = { parents: int64Tensor(parents, [parents.length]) };
    for (const name of this.names) feeds[name] = past[name];
    const out = await run(this.session, feeds, 'KV-cache reorder');
    return Object.fromEntries(this.names.map((name, k) => [name, out[`out.${k}`]]));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** True when every row continues its own row: the cache can be fed back as it is. */
export function isIdentity(parents: readonly number[], previousRows: number): boolean {
  return parents.length === previousRows && parents.every((p, i) => p === i);
}
