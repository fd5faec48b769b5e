// Opens a converted model folder: reads and validates model.json and checks that every file it
// lists is present with the recorded size (full checksums on demand: they read gigabytes).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { MANIFEST_FILE, ManifestSchema, type ModelManifest } from '../shared/model-manifest.ts';

export async function readManifest(dir: string): Promise<ModelManifest> {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) {
    throw new AppError('model_missing', `no ${MANIFEST_FILE} here: not a converted model folder (download one with "photo-assistant models pull", or convert a checkpoint with "photo-assistant convert <checkpoint> <out>")`, { file: dir });
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new AppError('model_invalid', `model manifest is not valid JSON: ${(cause as Error).message}`, { file: path, cause });
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AppError('model_invalid', `model manifest is invalid or from an unsupported version: ${issue.path.join('.')}: ${issue.message}`, { file: path });
  }
  for (const [name, entry] of Object.entries(r.data.files)) {
    const file = join(dir, name);
    const size = await stat(file).then((s) => s.size, () => -1);
    if (size < 0) throw new AppError('model_invalid', `model file listed in ${MANIFEST_FILE} is missing; the folder is incomplete: pull or convert the model again`, { file });
    if (size !== entry.bytes) throw new AppError('model_invalid', `model file has ${size} bytes, ${MANIFEST_FILE} records ${entry.bytes} (truncated or replaced): pull or convert the model again`, { file });
  }
  return r.data;
}

/** Recomputes every checksum; returns the files that do not match. */
export async function verifyChecksums(dir: string, manifest: ModelManifest, onFile?: (name: string) => void): Promise<string[]> {
  const bad: string[] = [];
  for (const [name, entry] of Object.entries(manifest.files)) {
    onFile?.(name);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(join(dir, name))) hash.update(chunk as Buffer);
    if (hash.digest('hex') !== entry.sha256) bad.push(name);
  }
  return bad;
}
