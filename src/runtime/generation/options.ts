// Validation and defaulting of GenerationOptions. Defaults are Hugging Face's GenerationConfig
// defaults; the checks mirror GenerationConfig.validate and the processors' own constructor checks,
// but fail up front with one AppError('invalid_argument') naming the option, instead of a Python
// ValueError deep in the loop. Unknown keys are rejected because a typo ("max_new_tokens") would
// otherwise silently fall back to a default.
import { AppError } from '../../shared/errors.ts';
import type {
  EarlyStopping,
  GenerationOptions,
  LogitsProcessor,
  StoppingCriterion,
} from './types.ts';

export interface ResolvedGenerationOptions {
  maxNewTokens: number;
  minNewTokens: number;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  seed: number | undefined;
  /** Deduplicated; empty when no eos was given. */
  eosTokenIds: number[];
  /** Empty when none was given. */
  historyPrefix: readonly number[];
  onToken: ((id: number) => void) | undefined;
  signal: AbortSignal | undefined;
  logitsProcessors: readonly LogitsProcessor[];
  stoppingCriteria: readonly StoppingCriterion[];
}

export const GENERATION_DEFAULTS = Object.freeze({
  maxNewTokens: 20,
  minNewTokens: 0,
  numBeams: 1,
  lengthPenalty: 1.0,
  earlyStopping: false as EarlyStopping,
  repetitionPenalty: 1.0,
  noRepeatNgramSize: 0,
  doSample: false,
  temperature: 1.0,
  topK: 50,
  topP: 1.0,
});

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'maxNewTokens', 'minNewTokens', 'numBeams', 'lengthPenalty', 'earlyStopping', 'repetitionPenalty',
  'noRepeatNgramSize', 'doSample', 'temperature', 'topK', 'topP', 'seed', 'eosTokenId', 'onToken',
  'signal', 'logitsProcessors', 'stoppingCriteria', 'historyPrefix',
]);

function invalid(message: string): AppError {
  return new AppError('invalid_argument', `Invalid generation option: ${message}`);
}

function int(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${name} must be an integer ≥ ${min}, got ${describe(value)}`);
  }
  return value;
}

function finite(name: string, value: unknown, fallback: number, check: (v: number) => boolean, rule: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) {
    throw invalid(`${name} must be ${rule}, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}

/**
 * Applies defaults and validates. `vocabSize`, when given, also checks that the eos ids exist and
 * that beam search has enough tokens to pick from.
 */
export function resolveGenerationOptions(options: GenerationOptions = {}, vocabSize?: number): ResolvedGenerationOptions {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw invalid(`unknown option "${key}"`);
  }
  const d = GENERATION_DEFAULTS;
  const maxNewTokens = int('maxNewTokens', options.maxNewTokens, d.maxNewTokens, 1);
  const minNewTokens = int('minNewTokens', options.minNewTokens, d.minNewTokens, 0);
  const numBeams = int('numBeams', options.numBeams, d.numBeams, 1);
  const lengthPenalty = finite('lengthPenalty', options.lengthPenalty, d.lengthPenalty, () => true, 'a finite number');
  const earlyStopping = options.earlyStopping ?? d.earlyStopping;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== 'never') {
    throw invalid(`earlyStopping must be true, false or 'never', got ${describe(earlyStopping)}`);
  }
  const repetitionPenalty = finite('repetitionPenalty', options.repetitionPenalty, d.repetitionPenalty, (v) => v > 0, 'a number > 0');
  const noRepeatNgramSize = int('noRepeatNgramSize', options.noRepeatNgramSize, d.noRepeatNgramSize, 0);
  const doSample = options.doSample ?? d.doSample;
  if (typeof doSample !== 'boolean') throw invalid(`doSample must be a boolean, got ${describe(doSample)}`);
  const temperature = finite('temperature', options.temperature, d.temperature, (v) => v > 0, 'a number > 0');
  const topK = int('topK', options.topK, d.topK, 0);
  const topP = finite('topP', options.topP, d.topP, (v) => v > 0 && v <= 1, 'a number with 0 < topP ≤ 1');
  const seed = options.seed === undefined ? undefined : int('seed', options.seed, 0, Number.MIN_SAFE_INTEGER);
  if (doSample && numBeams > 1) {
    throw invalid('doSample with numBeams > 1 (beam sampling) is not supported; use one or the other');
  }

  const eosRaw = options.eosTokenId;
  const eosList: readonly unknown[] = eosRaw === undefined ? [] : Array.isArray(eosRaw) ? eosRaw : [eosRaw];
  const eosTokenIds: number[] = [];
  for (const id of eosList) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw invalid(`eosTokenId must be a token id (integer ≥ 0) or a list of them, got ${describe(id)}`);
    }
    if (vocabSize !== undefined && id >= vocabSize) {
      throw invalid(`eosTokenId ${id} is outside the vocabulary (size ${vocabSize})`);
    }
    if (!eosTokenIds.includes(id)) eosTokenIds.push(id);
  }
  if (vocabSize !== undefined && numBeams > 1 && vocabSize < Math.max(2, 1 + eosTokenIds.length)) {
    throw invalid(`beam search needs a vocabulary of at least ${Math.max(2, 1 + eosTokenIds.length)} tokens`);
  }

  const historyPrefix = options.historyPrefix ?? [];
  if (!Array.isArray(historyPrefix) || historyPrefix.some((id) => typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)) {
    throw invalid('historyPrefix must be a list of token ids (integers ≥ 0)');
  }

  if (options.onToken !== undefined && typeof options.onToken !== 'function') throw invalid('onToken must be a function');
  const signal = options.signal;
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean')) {
    throw invalid('signal must be an AbortSignal');
  }
  const logitsProcessors = options.logitsProcessors ?? [];
  if (!Array.isArray(logitsProcessors) || logitsProcessors.some((p) => typeof p?.process !== 'function')) {
    throw invalid('logitsProcessors must be an array of objects with a process(generated, scores) method');
  }
  const stoppingCriteria = options.stoppingCriteria ?? [];
  if (!Array.isArray(stoppingCriteria) || stoppingCriteria.some((c) => typeof c?.isDone !== 'function')) {
    throw invalid('stoppingCriteria must be an array of objects with an isDone(generated) method');
  }

  return {
    maxNewTokens, minNewTokens, numBeams, lengthPenalty, earlyStopping, repetitionPenalty, noRepeatNgramSize,
    doSample, temperature, topK, topP, seed, eosTokenIds, historyPrefix, onToken: options.onToken, signal,
    logitsProcessors, stoppingCriteria,
  };
}
