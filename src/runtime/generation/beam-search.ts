// Beam search for batch size 1, step for step as HF 4.45 `_beam_search` + `BeamSearchScorer` +
// `BeamHypotheses` (generation/utils.py, generation/beam_search.py):
//  - the prompt row is "expanded" to numBeams identical rows with beam scores [0, -1e9, ...], so the
//    first step only really extends beam 0 (rows 1.. lose by 1e9 but still fill slots on tiny vocabs);
//  - per step: log_softmax(logits) → processors → + beam score, flattened over beams × vocab; the top
//    max(2, 1 + nEos) · numBeams candidates are walked best first: an eos candidate ranked < numBeams
//    becomes a finished hypothesis (scored sum_logprobs / generated_len ** length_penalty, the length
//    counting the eos), other candidates fill the next beams until numBeams are found;
//  - `is_done` per early_stopping, then at the end the running beams are added too (unless done) and
//    the best hypothesis wins; its normalised score is HF's `sequences_scores`.
// Scores live in Float32Array (torch float32); hypothesis arithmetic is in doubles, like Python floats.
import { AppError } from '../../shared/errors.ts';
import type { DecoderStepper, EarlyStopping, GenerationResult, LogitsProcessor, StoppingCriterion } from './types.ts';
import type { ResolvedGenerationOptions } from './options.ts';
import { logSoftmaxRow, topKDescending } from './score-ops.ts';
import { nextChecked, prefillChecked } from './stepping.ts';

export interface Hypothesis {
  /** Normalised score sum_logprobs / generated_len ** length_penalty. */
  score: number;
  /** Generated tokens, the eos included when it ended on one. */
  tokens: number[];
  endedWithEos: boolean;
}

const compare = (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : 0);

/** HF BeamHypotheses: the numBeams best finished hypotheses and the early-stopping test. */
export class BeamHypotheses {
  readonly beams: Hypothesis[] = [];
  /** HF starts at 1e9 and lowers it as hypotheses arrive. */
  worstScore = 1e9;

  constructor(
    readonly numBeams: number,
    readonly lengthPenalty: number,
    readonly earlyStopping: EarlyStopping,
    /** Max generated length: the 'never' bound for a positive length penalty. */
    readonly maxLength: number,
  ) {}

  get size(): number {
    return this.beams.length;
  }

  add(tokens: number[], sumLogprobs: number, generatedLen: number, endedWithEos: boolean): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.beams.length < this.numBeams || score > this.worstScore) {
      this.beams.push({ score, tokens, endedWithEos });
      if (this.beams.length > this.numBeams) {
        // Python sorts (score, position) tuples: drop the smallest, the next one becomes the worst.
        const order = this.beams.map((_, i) => i).sort((a, b) => compare(this.beams[a].score, this.beams[b].score) || a - b);
        const nextWorst = this.beams[order[1]].score;
        this.beams.splice(order[0], 1);
        this.worstScore = nextWorst;
      } else {
        this.worstScore = Math.min(score, this.worstScore);
      }
    }
  }

  /** `bestSumLogprobs`: the step's best candidate score; `curLen`: generated length including this step. */
  isDone(bestSumLogprobs: number, curLen: number): boolean {
    if (this.beams.length < this.numBeams) return false;
    if (this.earlyStopping === true) return true;
    // false: heuristic bound from the current length (not exact for a positive length penalty);
    // 'never' with a positive penalty: the best attainable score uses the maximum length instead.
    const len = this.earlyStopping === 'never' && this.lengthPenalty > 0 ? this.maxLength : curLen;
    const highestAttainable = bestSumLogprobs / len ** this.lengthPenalty;
    return this.worstScore >= highestAttainable;
  }

  /** HF: sorted(beams, key=score).pop(), i.e. the highest score, the last added among equals. */
  best(): Hypothesis {
    let best = this.beams[0];
    for (const h of this.beams) if (compare(h.score, best.score) >= 0) best = h;
    return best;
  }
}

export interface BeamDecoding {
  processors: LogitsProcessor;
  stopping: StoppingCriterion;
}

export async function beamSearch(
  stepper: DecoderStepper,
  opts: ResolvedGenerationOptions,
  { processors, stopping }: BeamDecoding,
): Promise<GenerationResult> {
  const vocab = stepper.vocabSize;
  const numBeams = opts.numBeams;
  const eos = opts.eosTokenIds;
  const candidatesToKeep = Math.min(Math.max(2, 1 + eos.length) * numBeams, numBeams * vocab);
  const hyps = new BeamHypotheses(numBeams, opts.lengthPenalty, opts.earlyStopping, opts.maxNewTokens);

  let beamTokens: number[][] = Array.from({ length: numBeams }, () => []);
  let beamScores = new Float32Array(numBeams).fill(-1e9);
  beamScores[0] = 0;
  const scores = new Float32Array(numBeams * vocab);
  let logits = await prefillChecked(stepper, opts.signal);
  let firstStep = true;
  let done = false;

  for (;;) {
    if (firstStep) {
      // The numBeams expanded rows would be identical (same prompt, same empty history): compute once.
      const row = scores.subarray(0, vocab);
      logSoftmaxRow(logits, 0, row, 0, vocab);
      processors.process([beamTokens[0]], row);
      for (let b = 1; b < numBeams; b++) scores.copyWithin(b * vocab, 0, vocab);
    } else {
      for (let b = 0; b < numBeams; b++) logSoftmaxRow(logits, b * vocab, scores, b * vocab, vocab);
      processors.process(beamTokens, scores);
    }
    for (let b = 0; b < numBeams; b++) {
      const base = beamScores[b];
      for (let i = b * vocab, end = i + vocab; i < end; i++) scores[i] = scores[i] + base;
    }

    const top = topKDescending(scores, candidatesToKeep);
    const curLen = beamTokens[0].length + 1;
    const nextTokens: number[] = [];
    const nextParents: number[] = [];
    const nextScores: number[] = [];
    for (let rank = 0; rank < top.indices.length && nextTokens.length < numBeams; rank++) {
      const flat = top.indices[rank];
      const parent = Math.floor(flat / vocab);
      const token = flat - parent * vocab;
      if (eos.includes(token)) {
        // An eos outside the top numBeams candidates is not good enough to be a hypothesis.
        if (rank >= numBeams) continue;
        hyps.add([...beamTokens[parent], token], top.values[rank], curLen, true);
      } else {
        nextTokens.push(token);
        nextParents.push(parent);
        nextScores.push(top.values[rank]);
      }
    }
    if (nextTokens.length < numBeams) {
      // HF raises the same way; only reachable if eos ids crowd out every other candidate.
      throw new AppError('inference_failed', `Beam search found fewer than ${numBeams} non-eos candidates`);
    }
    done = done || hyps.isDone(top.values[0], curLen);

    const previous = beamTokens;
    beamTokens = nextParents.map((p, j) => [...previous[p], nextTokens[j]]);
    beamScores = Float32Array.from(nextScores);
    if (done || stopping.isDone(beamTokens).every(Boolean)) break;

    // The stepper still holds a single prompt row after prefill: every expanded row is that row.
    const parents = firstStep ? nextParents.map(() => 0) : nextParents;
    firstStep = false;
    logits = await nextChecked(stepper, nextTokens, parents, opts.signal);
  }

  if (!done) {
    for (let b = 0; b < numBeams; b++) hyps.add(beamTokens[b], beamScores[b], beamTokens[b].length, false);
  }
  const best = hyps.best();
  if (opts.onToken) for (const token of best.tokens) opts.onToken(token);
  // HF returns sequences_scores as a float32 tensor.
  return { tokenIds: best.tokens, endedWithEos: best.endedWithEos, score: Math.fround(best.score) };
}
