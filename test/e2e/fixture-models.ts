// The tiny random-weight BLIP-2 fixtures (../shared/fixtures/hf-blip2) converted once and reused by
// every app-level test process: kept under the OS temp folder, keyed by a hash of the fixtures and
// of the converter's source, so a changed converter converts again and a stale folder is never used.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCheckpoint } from '../../src/builder/convert.ts';
import { FIXTURES, REPO_ROOT } from '../helpers/fixtures.ts';

export type TinyModel = 'opt' | 'itm';

let cacheRoot: string | undefined;

/** The converted folder of a fixture checkpoint ('opt' = captioning, 'itm' = retrieval). */
export async function tinyModel(name: TinyModel): Promise<string> {
  cacheRoot ??= join(tmpdir(), 'photo-assistant-test-models', cacheKey());
  const dir = join(cacheRoot, name);
  if (existsSync(join(dir, 'model.json'))) return dir;
  await mkdir(cacheRoot, { recursive: true });
  // Converted beside it and renamed into place: a concurrent test process either wins or uses ours.
  const tmp = join(cacheRoot, `${name}.${process.pid}.${Date.now()}`);
  await convertCheckpoint(join(FIXTURES, name), tmp);
  try {
    await rename(tmp, dir);
  } catch {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'model.json'))) throw new Error(`could not place the converted ${name} model in ${dir}`);
  }
  return dir;
}

function cacheKey(): string {
  const h = createHash('sha256');
  h.update(readFileSync(join(FIXTURES, 'MANIFEST.json')));
  for (const dir of ['builder', 'onnx']) for (const file of sourceFiles(join(REPO_ROOT, 'src', dir))) h.update(file).update(readFileSync(file));
  for (const file of ['model-manifest.ts', 'preprocess-config.ts']) h.update(readFileSync(join(REPO_ROOT, 'src', 'shared', file)));
  return h.digest('hex').slice(0, 16);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}
