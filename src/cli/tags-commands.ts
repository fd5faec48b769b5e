// `tags`: suggest tags for images from the tag vocabulary with the BLIP-2 retrieval model, in-process.
// `vocabulary`: the user's own vocabulary entries in a catalog. `calibrate-tags`: learn the model's
// tag thresholds from the photos a catalog has embeddings for (src/library/tagging/calibration.ts).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { AppError, toErrorData } from '../shared/errors.ts';
import { LocalRetrievalEncoder } from '../runtime/blip2/retrieval-encoder.ts';
import { Catalog } from '../library/catalog/catalog.ts';
import { calibrateFromCatalog, loadTagger } from '../library/tagging/photo-tags.ts';
import { Tagger } from '../library/tagging/tagger.ts';
import { FileTextCache } from '../library/tagging/text-embedding-cache.ts';
import { TAG_CATEGORIES, type TagCategory, addVocabularyEntry, loadVocabulary, removeVocabularyEntry, userVocabulary } from '../library/tagging/vocabulary.ts';
import { type GenerationFlags, intFlag, sessionSettings } from './generation-flags.ts';
import { Progress } from './progress.ts';

interface TagsFlags extends Pick<GenerationFlags, 'threads' | 'ep' | 'ortCache'> {
  model: string; db?: string; json?: boolean; topK: string; threshold?: string; minimum: string;
}

const say = (s: string) => process.stderr.write(`${s}\n`);

export function addTagsCommands(program: Command): void {
  program
    .command('tags')
    .description('suggest tags for each image from the tag vocabulary (BLIP-2 retrieval model)')
    .argument('<image...>')
    .requiredOption('--model <dir>', 'converted retrieval model folder (blip2-itm-vit-g)')
    .option('--db <catalog.db>', 'catalog: adds your own vocabulary, caches text vectors in it and uses its calibration')
    .option('--json', 'one JSON object per image per line: {"path", "tags": [{"label", "score", "similarity"}]}')
    .option('--top-k <n>', 'at most N tags per image', '10')
    .option('--threshold <x>', 'calibrated score a tag needs (default: the model\'s calibration, else 3.5)')
    .option('--minimum <n>', 'at least N tags per image when they come close to the threshold', '1')
    .option('--threads <n>', 'CPU threads for inference (default: all cores)')
    .action(async (images: string[], o: TagsFlags) => {
      const assign = {
        topK: intFlag(o.topK, '--top-k', 1),
        minimum: intFlag(o.minimum, '--minimum', 0),
        threshold: o.threshold === undefined ? undefined : finite(o.threshold, '--threshold'),
      };
      const catalog = o.db === undefined ? undefined : openExisting(o.db);
      const encoder = await LocalRetrievalEncoder.load(o.model, sessionSettings(o));
      try {
        const textEncoder = {
          modelId: encoder.modelId,
          embedDim: encoder.embedDim,
          embedTexts(texts: readonly string[]) {
            say(`embedding ${texts.length} tag prompt(s) for this model (cached for next time)…`);
            return encoder.embedTexts(texts);
          },
        };
        const tagger = catalog
          ? await loadTagger(catalog, textEncoder, assign)
          : await Tagger.create(loadVocabulary(), textEncoder, { ...assign, cache: new FileTextCache() });
        process.exitCode = (await tagEach(images, tagger, encoder, o.json)) || process.exitCode;
        if (catalog && !tagger.calibration && !o.json) say('photo-assistant: no tag calibration for this model in the catalog yet (see `calibrate-tags`)');
      } finally {
        await encoder.dispose();
        catalog?.close();
      }
    });

  program
    .command('calibrate-tags')
    .description('learn the retrieval model\'s tag thresholds from the photos the catalog has embeddings for')
    .requiredOption('--db <catalog.db>', 'catalog with photo embeddings (from `index --retrieval-model`)')
    .requiredOption('--model <dir>', 'the converted retrieval model folder those embeddings came from')
    .option('--false-tags <x>', 'wrong tags per photo the threshold lets through on average', '0.25')
    .action(async (o: { db: string; model: string; falseTags: string }) => {
      const catalog = openExisting(o.db);
      const encoder = await LocalRetrievalEncoder.load(o.model);
      try {
        const tagger = await loadTagger(catalog, encoder);
        const c = calibrateFromCatalog(catalog, tagger, { falseTagsPerPhoto: finite(o.falseTags, '--false-tags') });
        if (!c) throw new AppError('invalid_argument', `the catalog has no photo embeddings for this model (${encoder.modelId}); run index --retrieval-model first`);
        process.stdout.write(`calibrated ${Object.keys(c.prompts).length} tag prompts on ${c.images} photo(s): threshold ${c.threshold.toFixed(2)}\n`);
      } finally {
        await encoder.dispose();
        catalog.close();
      }
    });

  const vocab = program.command('vocabulary').description('your own tag vocabulary entries, kept in a catalog');
  vocab
    .command('list')
    .description('list your entries (--all: with the shipped vocabulary)')
    .requiredOption('--db <catalog.db>', 'catalog file')
    .option('--all', 'also the shipped entries')
    .option('--json', 'one JSON object per entry per line')
    .action((o: { db: string; all?: boolean; json?: boolean }) => {
      const catalog = openExisting(o.db);
      try {
        const entries = o.all ? loadVocabulary(catalog).entries : userVocabulary(catalog);
        for (const e of entries) process.stdout.write(o.json ? `${JSON.stringify(e)}\n` : `${e.label}\t${e.category}\t${e.prompt}\n`);
      } finally {
        catalog.close();
      }
    });
  vocab
    .command('add')
    .description('add a tag to the vocabulary (replaces an entry with the same label)')
    .argument('<label>')
    .requiredOption('--db <catalog.db>', 'catalog file (created if missing)')
    .option('--prompt <text>', 'text the model compares photos with (default: "a photo of <label>")')
    .option('--category <name>', `one of ${TAG_CATEGORIES.join(', ')}`, 'custom')
    .action((label: string, o: { db: string; prompt?: string; category: string }) => {
      const catalog = Catalog.open(o.db);
      try {
        const e = addVocabularyEntry(catalog, { label, prompt: o.prompt, category: o.category as TagCategory });
        process.stdout.write(`added "${e.label}" (${e.category}): ${e.prompt}\n`);
      } finally {
        catalog.close();
      }
    });
  vocab
    .command('remove')
    .description('remove one of your entries')
    .argument('<label>')
    .requiredOption('--db <catalog.db>', 'catalog file')
    .action((label: string, o: { db: string }) => {
      const catalog = openExisting(o.db);
      try {
        if (!removeVocabularyEntry(catalog, label)) throw new AppError('invalid_argument', `"${label}" is not one of your vocabulary entries`);
        process.stdout.write(`removed "${label}"\n`);
      } finally {
        catalog.close();
      }
    });
}

/** Tags every image; one unreadable image never stops the others. Returns the exit code. */
async function tagEach(images: string[], tagger: Tagger, encoder: LocalRetrievalEncoder, json?: boolean): Promise<number> {
  let failures = 0;
  const progress = !json && images.length > 1 ? new Progress(images.length) : undefined;
  const out = (line: string) => (progress ? progress.log(line) : process.stdout.write(`${line}\n`));
  for (const path of images) {
    try {
      const tags = tagger.assign(await encoder.embedImage(path)).map((h) => ({ label: h.label, score: round(h.score), similarity: round(h.similarity) }));
      out(json ? JSON.stringify({ path, tags }) : `${path}: ${tags.length ? tags.map((t) => `${t.label} (${t.score.toFixed(2)})`).join(', ') : '(no tags)'}`);
    } catch (err) {
      failures++;
      const e = toErrorData(err);
      if (json) process.stdout.write(`${JSON.stringify({ path, error: e })}\n`);
      const msg = e.message.includes(path) ? e.message : `${path}: ${e.message}`;
      progress ? progress.log(`photo-assistant: ${msg}`, true) : say(`photo-assistant: ${msg}`);
    }
    progress?.tick();
  }
  progress?.stop();
  if (failures) say(`photo-assistant: ${failures} of ${images.length} image(s) failed`);
  return failures ? 1 : 0;
}

function openExisting(file: string): Catalog {
  if (!existsSync(file)) throw new AppError('invalid_argument', 'no catalog at this path', { file });
  return Catalog.open(file);
}

function finite(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new AppError('invalid_argument', `${flag} must be a number, got "${value}"`);
  return n;
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;
