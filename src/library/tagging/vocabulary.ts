// The tag vocabulary: the curated list shipped in assets/tags/vocabulary.json plus the user's own
// entries kept in the catalog (table `vocabulary`). A user entry with the label of a shipped one
// replaces it (their prompt wins). The hash of the merged list keys cached calibrations, so a changed
// vocabulary is noticed; text vectors are cached per prompt text and need no hash.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AppError } from '../../shared/errors.ts';
import type { Catalog } from '../catalog/catalog.ts';
import { cleanLabel } from '../catalog/tags.ts';

/** Categories of the shipped list; 'custom' is what a user entry gets when it names none. */
export const TAG_CATEGORIES = [
  'animal', 'plant', 'food', 'object', 'vehicle', 'scene', 'nature', 'activity', 'event', 'people', 'style', 'custom',
] as const;
export type TagCategory = (typeof TAG_CATEGORIES)[number];

export interface VocabularyEntry {
  /** What the user sees and what lands in the catalog and in XMP dc:subject. */
  label: string;
  /** The text embedded by the Q-Former text branch, e.g. "a photo of a golden retriever". */
  prompt: string;
  category: TagCategory;
  source: 'shipped' | 'user';
}

export interface Vocabulary {
  readonly entries: readonly VocabularyEntry[];
  /** 16 hex digits over the labels and prompts (order-independent). */
  readonly hash: string;
}

export const SHIPPED_VOCABULARY_FILE = fileURLToPath(new URL('../../../assets/tags/vocabulary.json', import.meta.url));

const MAX_LABEL = 64;
const MAX_PROMPT = 200;

const entrySchema = z.object({
  label: z.string().trim().min(1).max(MAX_LABEL),
  prompt: z.string().trim().min(1).max(MAX_PROMPT),
  category: z.enum(TAG_CATEGORIES),
}).strict();
const fileSchema = z.array(entrySchema).min(1);

const shippedCache = new Map<string, VocabularyEntry[]>();

/** The shipped list, read and validated once per file; a broken file is an error naming it. */
export function loadShippedVocabulary(file = SHIPPED_VOCABULARY_FILE): VocabularyEntry[] {
  const cached = shippedCache.get(file);
  if (cached) return cached;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AppError('io_error', `cannot read the tag vocabulary: ${(err as Error).message}`, { file, cause: err });
  }
  const entries = parseVocabulary(text, file);
  shippedCache.set(file, entries);
  return entries;
}

/** Parses and validates vocabulary JSON (an array of {label, prompt, category}). */
export function parseVocabulary(text: string, file: string): VocabularyEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AppError('invalid_argument', `the tag vocabulary is not valid JSON: ${(err as Error).message}`, { file });
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('invalid_argument', `the tag vocabulary is invalid at ${issue.path.join('.') || 'the top level'}: ${issue.message}`, { file });
  }
  const seen = new Set<string>();
  return parsed.data.map((e, i) => {
    const label = cleanLabel(e.label);
    const key = label.toLowerCase();
    if (seen.has(key)) throw new AppError('invalid_argument', `the tag vocabulary lists "${label}" twice (entry ${i})`, { file });
    seen.add(key);
    return { label, prompt: e.prompt, category: e.category, source: 'shipped' as const };
  });
}

export interface NewVocabularyEntry {
  label: string;
  /** Default: "a photo of <label>". */
  prompt?: string;
  /** Default: 'custom'. */
  category?: TagCategory;
}

/** Adds (or replaces) one of the user's own entries; returns it as stored. */
export function addVocabularyEntry(catalog: Catalog, input: NewVocabularyEntry): VocabularyEntry {
  const label = cleanLabel(input.label);
  if (label.length > MAX_LABEL) throw new AppError('invalid_argument', `a tag label is at most ${MAX_LABEL} characters`);
  const prompt = (input.prompt ?? '').trim() || `a photo of ${label}`;
  if (prompt.length > MAX_PROMPT) throw new AppError('invalid_argument', `a tag prompt is at most ${MAX_PROMPT} characters`);
  const category = input.category ?? 'custom';
  if (!(TAG_CATEGORIES as readonly string[]).includes(category)) {
    throw new AppError('invalid_argument', `unknown tag category "${category}" (one of ${TAG_CATEGORIES.join(', ')})`);
  }
  catalog.upsertVocabularyRow({ label, prompt, category });
  return { label, prompt, category, source: 'user' };
}

/** Removes one of the user's entries (shipped entries cannot be removed); returns whether it existed. */
export function removeVocabularyEntry(catalog: Catalog, label: string): boolean {
  return catalog.deleteVocabularyRow(cleanLabel(label));
}

/** The user's own entries, alphabetically. */
export function userVocabulary(catalog: Catalog): VocabularyEntry[] {
  return catalog.vocabularyRows().map((r) => ({
    label: r.label,
    prompt: r.prompt,
    category: (TAG_CATEGORIES as readonly string[]).includes(r.category ?? '') ? (r.category as TagCategory) : 'custom',
    source: 'user',
  }));
}

/** Shipped entries merged with the catalog's user entries (when a catalog is given). */
export function loadVocabulary(catalog?: Catalog, file = SHIPPED_VOCABULARY_FILE): Vocabulary {
  return makeVocabulary(loadShippedVocabulary(file), catalog ? userVocabulary(catalog) : []);
}

/** `user` entries replace `shipped` ones with the same label (case-insensitively), then are appended. */
export function makeVocabulary(shipped: readonly VocabularyEntry[], user: readonly VocabularyEntry[] = []): Vocabulary {
  const mine = new Map(user.map((e) => [e.label.toLowerCase(), e]));
  const shippedLabels = new Set(shipped.map((e) => e.label.toLowerCase()));
  const entries = [
    ...shipped.map((e) => mine.get(e.label.toLowerCase()) ?? e),
    ...user.filter((e) => !shippedLabels.has(e.label.toLowerCase())),
  ];
  return { entries, hash: vocabularyHash(entries) };
}

export function vocabularyHash(entries: readonly Pick<VocabularyEntry, 'label' | 'prompt'>[]): string {
  const lines = entries.map((e) => `${e.label.toLowerCase()}\t${e.prompt}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
}
