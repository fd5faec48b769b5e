// Dataset mode: a `.txt` file with the current caption next to each image (photo.jpg → photo.txt),
// the layout LoRA and other training tools read. Written atomically.
import { rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { toErrorData, type ErrorData } from '../shared/errors.ts';
import type { Catalog } from './catalog/catalog.ts';

export function txtPath(imagePath: string): string {
  return imagePath.replace(/\.[^./]+$/, '') + '.txt';
}

export async function writeTxtCaptions(catalog: Catalog, onProblem: (e: ErrorData) => void): Promise<number> {
  let n = 0;
  for (let offset = 0; ; offset += 500) {
    const page = catalog.listPhotos({ limit: 500, offset, state: 'active' });
    if (!page.length) return n;
    for (const p of page) {
      const caption = catalog.currentCaption(p.id);
      if (!caption) continue;
      for (const path of catalog.photoPaths(p.id)) {
        if (!existsSync(path)) continue;
        try {
          const tmp = `${txtPath(path)}.tmp-${process.pid}`;
          await writeFile(tmp, `${caption.text}\n`);
          await rename(tmp, txtPath(path));
          n++;
        } catch (e) {
          onProblem(toErrorData(e));
        }
      }
    }
  }
}
