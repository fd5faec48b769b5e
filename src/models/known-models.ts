// The supported BLIP-2 checkpoints (assets/models/known-models.json): alias, Hub repo, role and the
// recommended quantization. Sizes and hashes are not here: they come from the Hub at pull time.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AppError } from '../shared/errors.ts';

export const KNOWN_MODELS_FILE = fileURLToPath(new URL('../../assets/models/known-models.json', import.meta.url));

const KnownModelSchema = z.object({
  alias: z.string(),
  repo: z.string(),
  role: z.enum(['caption', 'retrieval']),
  family: z.enum(['opt', 'flan-t5', 'itm']),
  recommendedQuant: z.enum(['fp32', 'int8', 'int4']),
  /** Billions of parameters, for the RAM estimate shown before a download. */
  params: z.number().positive(),
  /** False while this version cannot run the family (listed so people know it is coming). */
  usable: z.boolean(),
  recommended: z.boolean().optional(),
  description: z.string(),
});
export type KnownModel = z.infer<typeof KnownModelSchema>;

let cache: KnownModel[] | undefined;

export function knownModels(file = KNOWN_MODELS_FILE): KnownModel[] {
  if (cache && file === KNOWN_MODELS_FILE) return cache;
  const parsed = z.object({ models: z.array(KnownModelSchema) }).safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new AppError('invalid_argument', `known models list is invalid: ${parsed.error.issues[0].message}`, { file });
  if (file === KNOWN_MODELS_FILE) cache = parsed.data.models;
  return parsed.data.models;
}

/** An alias from the list, or any repo id (owner/name); aliases match case-insensitively. */
export function resolveModelRef(ref: string): { repo: string; known?: KnownModel } {
  const known = knownModels().find((m) => m.alias.toLowerCase() === ref.toLowerCase() || m.repo.toLowerCase() === ref.toLowerCase());
  if (known) {
    if (!known.usable) {
      throw new AppError('checkpoint_unsupported', `${known.repo} (${known.family}) cannot run in this version yet; supported now: ${knownModels().filter((m) => m.usable).map((m) => m.alias).join(', ')}`);
    }
    return { repo: known.repo, known };
  }
  if (!ref.includes('/')) {
    throw new AppError('invalid_argument', `unknown model "${ref}": use one of ${knownModels().map((m) => m.alias).join(', ')} or a Hub repo id (owner/name)`);
  }
  return { repo: ref };
}

/** Peak memory to expect when running a model: its converted size plus activations and runtime. */
export function ramEstimateBytes(convertedBytes: number): number {
  // Measured (npm run bench, OPT-2.7b): int4 2.56 GiB on disk → 3.0-3.7 GiB peak RSS while captioning.
  return Math.round(convertedBytes * 1.15 + 600 * 1024 * 1024);
}
