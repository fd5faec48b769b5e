// Stopping criteria (HF generation/stopping_criteria.py): each returns one boolean per row, and a list
// ORs them, as HF's StoppingCriteriaList does. The decoding loops consult them after appending the
// step's token: a greedy/sampling row stops when its entry is true; beam search stops only when all
// rows are done (HF's `all(stopping_criteria(...))`), which in practice means max-new-tokens, since
// beams never end in eos (eos candidates leave the beams and become finished hypotheses).
import type { StoppingCriterion, TokenHistories } from './types.ts';
import type { ResolvedGenerationOptions } from './options.ts';

/** HF MaxLengthCriteria with max_length = max_new_tokens (the prompt is not in input_ids for BLIP-2). */
export class MaxNewTokensCriterion implements StoppingCriterion {
  constructor(readonly maxNewTokens: number) {}

  isDone(generated: TokenHistories): boolean[] {
    return generated.map((tokens) => tokens.length >= this.maxNewTokens);
  }
}

/** HF EosTokenCriteria: the row's last generated token is one of the eos ids. */
export class EosTokenCriterion implements StoppingCriterion {
  readonly eosTokenIds: readonly number[];

  constructor(eosTokenIds: number | readonly number[]) {
    this.eosTokenIds = typeof eosTokenIds === 'number' ? [eosTokenIds] : [...eosTokenIds];
  }

  isDone(generated: TokenHistories): boolean[] {
    return generated.map((tokens) => tokens.length > 0 && this.eosTokenIds.includes(tokens[tokens.length - 1]));
  }
}

/** A row is done as soon as any criterion says so. Is itself a criterion, so lists nest. */
export class StoppingCriteriaList implements StoppingCriterion {
  readonly criteria: StoppingCriterion[];

  constructor(criteria: Iterable<StoppingCriterion> = []) {
    this.criteria = [...criteria];
  }

  push(...criteria: StoppingCriterion[]): this {
    this.criteria.push(...criteria);
    return this;
  }

  isDone(generated: TokenHistories): boolean[] {
    const done = generated.map(() => false);
    for (const criterion of this.criteria) {
      const flags = criterion.isDone(generated);
      for (let i = 0; i < done.length; i++) done[i] = done[i] || flags[i] === true;
    }
    return done;
  }
}

/** max-new-tokens, eos (when an eos id is set), then caller-supplied criteria: HF's _get_stopping_criteria order. */
export function buildStoppingCriteria(opts: ResolvedGenerationOptions): StoppingCriteriaList {
  const list = new StoppingCriteriaList([new MaxNewTokensCriterion(opts.maxNewTokens)]);
  if (opts.eosTokenIds.length > 0) list.push(new EosTokenCriterion(opts.eosTokenIds));
  list.push(...opts.stoppingCriteria);
  return list;
}
