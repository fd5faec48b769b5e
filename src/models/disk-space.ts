// Free space where a model will be written, checked before a download starts.
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../shared/errors.ts';

export async function freeBytes(dir: string): Promise<number> {
  let at = dir;
  for (;;) { // the folder may not exist yet: ask for its nearest existing parent
    const s = await statfs(at).catch(() => undefined);
    if (s) return s.bavail * s.bsize;
    const parent = join(at, '..');
    if (parent === at) return Number.MAX_SAFE_INTEGER;
    at = parent;
  }
}

export function checkFreeSpace(needed: number, free: number, dir: string): void {
  if (free < needed) {
    throw new AppError('disk_full', `not enough free space: this download needs ${gb(needed)} in ${dir}, ${gb(free)} is free. Free some space or choose another models folder`, { file: dir });
  }
}

const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
