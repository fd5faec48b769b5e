// Single-row decoding: greedy search and multinomial sampling (HF GenerationMixin._sample, which
// serves both). Per step: copy the logits (HF clones them; the stepper may reuse its buffer), run the
// processors (and warpers when sampling), pick argmax or draw from softmax, append, stream the token,
// then consult the stopping criteria; the model is stepped again only if the row continues.
import { AppError } from '../../shared/errors.ts';
import type { DecoderStepper, GenerationResult, LogitsProcessor, StoppingCriterion } from './types.ts';
import type { ResolvedGenerationOptions } from './options.ts';
import type { Rng } from './rng.ts';
import { argmax, sampleIndex, softmaxRow } from './score-ops.ts';
import { nextChecked, prefillChecked } from './stepping.ts';

export interface SingleRowDecoding {
  processors: LogitsProcessor;
  stopping: StoppingCriterion;
  /** Required when opts.doSample; ignored otherwise. */
  rng?: Rng;
}

/** Greedy (doSample false) or sampling (doSample true) decoding of one row. */
export async function decodeSingleRow(
  stepper: DecoderStepper,
  opts: ResolvedGenerationOptions,
  { processors, stopping, rng }: SingleRowDecoding,
): Promise<GenerationResult> {
  if (opts.doSample && !rng) throw new AppError('invalid_argument', 'sampling needs a random generator');
  const vocab = stepper.vocabSize;
  const generated: number[] = [];
  const histories = [generated];
  const scores = new Float32Array(vocab);
  let logits = await prefillChecked(stepper, opts.signal);

  for (;;) {
    scores.set(logits);
    processors.process(histories, scores);
    const token = opts.doSample ? drawToken(scores, vocab, rng!) : argmax(scores, 0, vocab);
    generated.push(token);
    opts.onToken?.(token);
    if (stopping.isDone(histories)[0]) break;
    logits = await nextChecked(stepper, [token], [0], opts.signal);
  }

  const last = generated[generated.length - 1];
  return { tokenIds: generated, endedWithEos: opts.eosTokenIds.includes(last) };
}

/** HF: probs = softmax(scores); torch.multinomial(probs, 1). Here: inverse CDF with our seeded PRNG. */
function drawToken(scores: Float32Array, vocab: number, rng: Rng): number {
  const token = sampleIndex(softmaxRow(scores, 0, vocab), rng.nextFloat());
  if (token < 0) {
    throw new AppError('inference_failed', 'Every token was masked out (all scores are -inf); nothing can be sampled');
  }
  return token;
}
