// Generation flags shared by `caption` and `ask`, parsed into runtime options with clear errors.
import type { Command } from 'commander';
import { AppError } from '../shared/errors.ts';
import { LOW_MEMORY_BATCH } from '../jobs/protocol.ts';
import type { GenerateOptions } from '../runtime/blip2/model.ts';
import { type ExecutionProvider, type SessionSettings, defaultCacheDir } from '../runtime/session.ts';

export function addGenerationFlags(cmd: Command): Command {
  return cmd
    .option('--num-beams <n>', 'beam search with N beams (1 = greedy)')
    .option('--max-new-tokens <n>', 'stop after N new tokens')
    .option('--min-new-tokens <n>', 'do not stop before N new tokens')
    .option('--repetition-penalty <x>', 'penalize tokens already generated (> 1)')
    .option('--length-penalty <x>', 'beam search length penalty (> 0 favours longer)')
    .option('--no-repeat-ngram <n>', 'never repeat an n-gram of this size')
    .option('--sample', 'sample instead of searching')
    .option('--temperature <x>', 'sampling temperature')
    .option('--top-k <n>', 'sample among the K most likely tokens')
    .option('--top-p <x>', 'sample within this cumulative probability')
    .option('--seed <n>', 'seed for sampling (same seed, same text)')
    .option('--threads <n>', 'CPU threads for inference (default: all cores)')
    .option('--ort-cache', 'cache optimized graphs in ~/.cache/photo-assistant/ort (≈8% faster loads, costs the model size again on disk)')
    .option('--low-memory', `open the image side and the language model one at a time: peak memory is the larger, not the sum (int4 OPT-2.7b: under 3 GB), at a reload per switch; several images are encoded ${LOW_MEMORY_BATCH} at a time first`)
    .option('--ep <provider>', 'execution provider: cpu, cuda, dml, coreml, webgpu (falls back to CPU when unavailable)', 'cpu');
}

export interface GenerationFlags {
  numBeams?: string; maxNewTokens?: string; minNewTokens?: string; repetitionPenalty?: string;
  lengthPenalty?: string; noRepeatNgram?: string; sample?: boolean; temperature?: string;
  topK?: string; topP?: string; seed?: string; threads?: string; ep?: string; ortCache?: boolean;
  lowMemory?: boolean;
}

export function sessionSettings(f: GenerationFlags): SessionSettings {
  return {
    threads: intFlag(f.threads, '--threads', 0),
    executionProvider: (f.ep ?? 'cpu') as ExecutionProvider,
    cacheDir: f.ortCache ? defaultCacheDir() : undefined,
  };
}

export function intFlag(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new AppError('invalid_argument', `${flag} must be a whole number ≥ ${min}, got "${value}"`);
  return n;
}

function numFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new AppError('invalid_argument', `${flag} must be a number, got "${value}"`);
  return n;
}

export function generationOptions(f: GenerationFlags): GenerateOptions {
  const o: GenerateOptions = {
    numBeams: intFlag(f.numBeams, '--num-beams', 1),
    maxNewTokens: intFlag(f.maxNewTokens, '--max-new-tokens', 1),
    minNewTokens: intFlag(f.minNewTokens, '--min-new-tokens', 0),
    repetitionPenalty: numFlag(f.repetitionPenalty, '--repetition-penalty'),
    lengthPenalty: numFlag(f.lengthPenalty, '--length-penalty'),
    noRepeatNgramSize: intFlag(f.noRepeatNgram, '--no-repeat-ngram', 0),
    doSample: f.sample ? true : undefined,
    temperature: numFlag(f.temperature, '--temperature'),
    topK: intFlag(f.topK, '--top-k', 0),
    topP: numFlag(f.topP, '--top-p'),
    seed: intFlag(f.seed, '--seed', 0),
  };
  if (!f.sample && (o.temperature !== undefined || o.topK !== undefined || o.topP !== undefined || o.seed !== undefined)) {
    throw new AppError('invalid_argument', '--temperature, --top-k, --top-p and --seed only apply with --sample');
  }
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as GenerateOptions;
}

export function parseIds(text: string, flag: string): number[] {
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!ids.length || ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new AppError('invalid_argument', `${flag} must be comma-separated token ids such as 2,100,200, got "${text}"`);
  }
  return ids;
}
