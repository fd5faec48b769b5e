// Where the shared Hugging Face reference fixtures live, and small readers for them.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = process.env.PHOTO_ASSISTANT_SHARED ?? resolve(repoRoot, '..', 'shared');
export const FIXTURES = join(SHARED, 'fixtures', 'hf-blip2');
export const PHOTOS = join(SHARED, 'photos');
export const REPO_ROOT = repoRoot;

export function fixturePath(rel: string): string {
  return join(FIXTURES, rel);
}

export function readF32(rel: string): Float32Array {
  const b = readFileSync(fixturePath(rel));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function readJson<T = any>(rel: string): T {
  return JSON.parse(readFileSync(fixturePath(rel), 'utf8')) as T;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pa-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pa-test-'));
}
