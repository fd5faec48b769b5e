// Entry point of the generation engine: validates the options against the stepper, builds the HF
// processor and stopping-criteria lists, and dispatches like HF GenerationMixin.generate for batch 1:
// numBeams > 1 → beam search; otherwise greedy search, or multinomial sampling when doSample is set.
import type { DecoderStepper, GenerationOptions, GenerationResult } from './types.ts';
import { resolveGenerationOptions } from './options.ts';
import { buildLogitsProcessors } from './logits-processors.ts';
import { buildStoppingCriteria } from './stopping-criteria.ts';
import { createRng } from './rng.ts';
import { decodeSingleRow } from './greedy.ts';
import { beamSearch } from './beam-search.ts';
import { throwIfCancelled } from './stepping.ts';
import { AppError } from '../../shared/errors.ts';

/**
 * Generates tokens after the stepper's prompt. Rejects with AppError 'invalid_argument' for bad
 * options, 'cancelled' when options.signal aborts, 'inference_failed' for malformed logits; errors
 * thrown by the stepper or by onToken propagate unchanged.
 */
export async function generate(stepper: DecoderStepper, options: GenerationOptions = {}): Promise<GenerationResult> {
  const vocab = stepper?.vocabSize;
  if (typeof vocab !== 'number' || !Number.isSafeInteger(vocab) || vocab < 1) {
    throw new AppError('invalid_argument', `Decoder vocabSize must be a positive integer, got ${String(vocab)}`);
  }
  const opts = resolveGenerationOptions(options, vocab);
  throwIfCancelled(opts.signal);
  const processors = buildLogitsProcessors(opts);
  const stopping = buildStoppingCriteria(opts);
  if (opts.numBeams > 1) return beamSearch(stepper, opts, { processors, stopping });
  const rng = opts.doSample ? createRng(opts.seed) : undefined;
  return decodeSingleRow(stepper, opts, { processors, stopping, rng });
}
