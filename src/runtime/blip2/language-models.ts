// The language models a BLIP-2 captioning folder can carry, keyed by the manifest's kind, as the
// builder's registry does for conversion. A family opens its own graphs and tokenizer and turns one
// image's projected queries + prompt ids into a DecoderStepper; greedy, beam search, sampling,
// processors and streaming (src/runtime/generation) are the same for all of them. Adding a family
// is a file implementing LanguageModelFamily (language-model.ts) plus an entry in FAMILIES.
import { AppError } from '../../shared/errors.ts';
import type { CAPTION_KINDS, ModelManifest } from '../../shared/model-manifest.ts';
import type { LanguageModelFamily } from './language-model.ts';
import { optFamily } from './opt-language-model.ts';
import { t5Family } from './t5-language-model.ts';

const FAMILIES: Record<(typeof CAPTION_KINDS)[number], LanguageModelFamily> = {
  'blip2-opt': optFamily,
  'blip2-t5': t5Family,
};

/** The family of a captioning folder, or a 'model_invalid' saying what the folder is instead. */
export function languageModelFamily(manifest: ModelManifest, dir: string): LanguageModelFamily {
  const family = (FAMILIES as Partial<Record<ModelManifest['kind'], LanguageModelFamily>>)[manifest.kind];
  if (!family || !manifest.shapes.language) {
    throw new AppError('model_invalid', `this is a "${manifest.kind}" model folder, not a captioning model (${Object.keys(FAMILIES).join(', ')})`, { file: dir });
  }
  for (const g of family.graphs) if (!manifest.graphs[g]) throw new AppError('model_invalid', `model.json lists no "${g}" graph`, { file: dir });
  return family;
}

