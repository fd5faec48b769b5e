// Public surface of the text-generation engine (model-agnostic; the model implements DecoderStepper).
export type {
  DecoderStepper,
  EarlyStopping,
  GenerationOptions,
  GenerationResult,
  LogitsProcessor,
  StoppingCriterion,
  TokenHistories,
} from './types.ts';
export { generate } from './generate.ts';
export { GENERATION_DEFAULTS, resolveGenerationOptions, type ResolvedGenerationOptions } from './options.ts';
export {
  LogitsProcessorList,
  MinNewTokensLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  WithHistoryPrefix,
  buildLogitsProcessors,
} from './logits-processors.ts';
export { TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper } from './logits-warpers.ts';
export { EosTokenCriterion, MaxNewTokensCriterion, StoppingCriteriaList, buildStoppingCriteria } from './stopping-criteria.ts';
export { createRng, type Rng } from './rng.ts';
