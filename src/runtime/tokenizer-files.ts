// Reading a checkpoint's tokenizer files, with errors that name the file (shared by the OPT and
// the Q-Former/BERT tokenizers).
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../shared/errors.ts';

export type Json = Record<string, unknown>;

export async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new AppError('model_invalid', `cannot read tokenizer file: ${(cause as Error).message}`, { file, cause });
  }
}

export async function readJsonObject(file: string): Promise<Json> {
  let json: unknown;
  try {
    json = JSON.parse(await readText(file));
  } catch (cause) {
    if (cause instanceof AppError) throw cause;
    throw new AppError('model_invalid', `tokenizer file is not valid JSON: ${(cause as Error).message}`, { file, cause });
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new AppError('model_invalid', 'tokenizer file does not hold a JSON object', { file });
  }
  return json as Json;
}

/** A special token given as a string or as a serialized AddedToken object. */
export function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

export function specialList(v: unknown): string[] {
  return Array.isArray(v) ? v.map(tokenContent).filter((c): c is string => c !== undefined) : [];
}

/** tokenizer_config.json, with special tokens it lacks taken from special_tokens_map.json, and
 *  added_tokens.json folded into added_tokens_decoder when the config has none. */
export async function readConfig(dir: string): Promise<Json> {
  const cfgFile = join(dir, 'tokenizer_config.json');
  const config: Json = (await exists(cfgFile)) ? await readJsonObject(cfgFile) : {};
  const mapFile = join(dir, 'special_tokens_map.json');
  if (await exists(mapFile)) {
    const map = await readJsonObject(mapFile);
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'cls_token', 'sep_token', 'mask_token', 'additional_special_tokens']) {
      if (config[key] === undefined && map[key] !== undefined) config[key] = map[key];
    }
  }
  const addedFile = join(dir, 'added_tokens.json');
  if (config.added_tokens_decoder === undefined && (await exists(addedFile))) {
    const added = await readJsonObject(addedFile);
    const decl: Json = {};
    for (const [content, id] of Object.entries(added)) {
      if (Number.isInteger(id)) decl[String(id)] = { content, special: true, normalized: false };
    }
    config.added_tokens_decoder = decl;
  }
  return config;
}
