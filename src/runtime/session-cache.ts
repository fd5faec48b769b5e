// Optimized-model caching: the first load of a graph saves ONNX Runtime's optimized graph with its
// pre-packed weights (MatMulNBits/MLAS layouts) next to a cache key; later loads read that and skip
// both graph optimization and weight re-packing, so the second start is fast. The key covers the
// graph's checksum, ONNX Runtime's version, the CPU and the execution provider, because the saved
// graph is specific to them. Written to a temp folder and renamed, so a killed save never poisons it.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';

export interface CacheEntry {
  dir: string;
  model: string;
}

export function cacheEntry(cacheDir: string, graphPath: string, graphSha256: string, provider: string): CacheEntry {
  const key = createHash('sha256')
    .update([graphSha256, ort.env.versions.common, process.arch, cpus()[0]?.model ?? '', provider].join('|'))
    .digest('hex')
    .slice(0, 20);
  const dir = join(cacheDir, `${basename(graphPath, '.onnx')}-${key}`);
  return { dir, model: join(dir, 'model.onnx') };
}

export const SAVE_CONFIG = {
  optimized_model_external_initializers_file_name: 'model.onnx.data',
  optimized_model_external_initializers_min_size_in_bytes: '1024',
  // Pre-packed weights are not saved: ONNX Runtime 1.30 reloads them as NaN (checked); they are re-packed at load.
};

/** Where to save a new cache entry (a temp folder renamed by `commit`). */
export async function prepareSave(entry: CacheEntry): Promise<{ path: string; commit: () => Promise<void>; abandon: () => Promise<void> }> {
  const tmp = `${entry.dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  return {
    path: join(tmp, 'model.onnx'),
    commit: async () => {
      if (existsSync(entry.dir)) await rm(entry.dir, { recursive: true, force: true });
      await rename(tmp, entry.dir);
    },
    abandon: () => rm(tmp, { recursive: true, force: true }),
  };
}
