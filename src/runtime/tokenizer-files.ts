// Reading a checkpoint's tokenizer files, with errors that name the file (shared by the OPT and
// the Q-Former/BERT tokenizers).
import { access, readFile } from 'node:fs/promises';
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
