// Opens a converted model folder: reads and validates model.json and checks that every file it
// lists is present with the recorded size. Loading for inference also checks every sha256 once: a
// stamp (.verified.json: each file's size and modification time when its checksum matched) makes
// later loads cheap until a file changes.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
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

const STAMP = '.verified.json';

/**
 * Every checksum of the folder, recomputed only for files whose size or modification time changed
 * since the last verified load. Throws model_invalid naming the files that do not match.
 */
export async function ensureVerified(dir: string, manifest: ModelManifest): Promise<void> {
  const now: Record<string, { bytes: number; mtimeMs: number; sha256: string }> = {};
  for (const [name, entry] of Object.entries(manifest.files)) {
    const s = await stat(join(dir, name));
    now[name] = { bytes: s.size, mtimeMs: s.mtimeMs, sha256: entry.sha256 };
  }
  let stamp: typeof now = {};
  try {
    stamp = JSON.parse(await readFile(join(dir, STAMP), 'utf8')) as typeof now;
  } catch { /* never verified, or an unreadable stamp: verify all */ }
  const changed = Object.keys(now).filter((n) => JSON.stringify(stamp[n]) !== JSON.stringify(now[n]));
  if (!changed.length) return;
  const subset = { ...manifest, files: Object.fromEntries(changed.map((n) => [n, manifest.files[n]])) };
  const bad = await verifyChecksums(dir, subset);
  if (bad.length) {
    throw new AppError('model_invalid', `${bad.length} file(s) do not match their checksum in ${MANIFEST_FILE} (${bad.join(', ')}): the folder is damaged; pull or convert the model again`, { file: dir });
  }
  // A read-only folder cannot keep a stamp: it is then verified at each load.
  await writeFile(join(dir, STAMP), JSON.stringify(now)).catch(() => undefined);
}
