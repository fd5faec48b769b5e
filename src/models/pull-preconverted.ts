// A Hub repo that holds one of our converted model folders (model.json at its root): every file the
// manifest lists is downloaded as is (resuming a partial file with a Range request) and checked
// against the manifest's sha256 (and the Hub's LFS oid). A published int4 model is a 2-3 GB download
// instead of a 15 GB checkpoint. model.json is written last and the folder renamed into place.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { MANIFEST_FILE, ManifestSchema, type ModelManifest } from '../shared/model-manifest.ts';
import { readManifest } from '../runtime/model-folder.ts';
import type { RepoSnapshot } from '../hub/hub-client.ts';
import { folderNameFor, pullWorkDir } from './model-store.ts';
import type { PullOptions, PullResult } from './pull.ts';
import { checkFreeSpace, freeBytes } from './disk-space.ts';
import { RateMeter } from './transfer-progress.ts';
import { WorkFolder } from './work-folder.ts';

export async function pullPreconverted(snap: RepoSnapshot, opts: PullOptions): Promise<PullResult> {
  const { hub, signal } = opts;
  const name = folderNameFor(snap.repo, undefined);
  const out = join(opts.modelsDir, name);
  const manifestBytes = await hub.readSmall(snap.repo, snap.commit, MANIFEST_FILE, signal);
  const manifest = parseManifest(manifestBytes, `${snap.repo}/${MANIFEST_FILE}`);
  if (existsSync(out) && !opts.force) {
    const have = await readManifest(out).catch(() => undefined);
    if (have && JSON.stringify(have.files) === JSON.stringify(manifest.files)) return { dir: out, manifest: have, downloadedBytes: 0, resumed: false, alreadyPresent: true };
    throw new AppError('invalid_argument', `${out} already exists with another model: use --force to replace it`, { file: out });
  }
  const listing = new Map(snap.files.map((f) => [f.path, f]));
  for (const file of Object.keys(manifest.files)) {
    if (!listing.has(file)) throw new AppError('model_invalid', `the published model lists "${file}", which ${snap.repo}@${snap.commit.slice(0, 7)} does not have`);
  }
  const total = Object.values(manifest.files).reduce((a, f) => a + f.bytes, 0);
  const work = await WorkFolder.open(pullWorkDir(opts.modelsDir, name), { repo: snap.repo, commit: snap.commit, preconverted: true });
  try {
    let have = 0;
    for (const f of Object.keys(manifest.files)) have += await stat(work.path(f)).then((s) => s.size, () => 0);
    const resumed = have > 0;
    checkFreeSpace(total - have, await freeBytes(opts.modelsDir), opts.modelsDir);
    const meter = new RateMeter();
    let downloaded = 0;
    let base = 0;
    let last = 0;
    for (const [file, entry] of Object.entries(manifest.files)) {
      const path = work.path(file);
      await mkdir(dirname(path), { recursive: true });
      let size = await stat(path).then((s) => s.size, () => 0);
      if (size > entry.bytes) size = 0; // not this file: start over
      let failures = 0;
      while (size < entry.bytes) {
        const fd = openSync(path, size === 0 ? 'w' : 'r+');
        const before = size;
        try {
          const { body } = await hub.open(snap.repo, snap.commit, file, size, signal);
          for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
            if (size + chunk.byteLength > entry.bytes) throw new AppError('integrity_failed', `more bytes than the ${entry.bytes} the manifest records`, { file: `${snap.repo}/${file}` });
            let off = 0;
            while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off, size + off);
            size += chunk.byteLength;
            downloaded += chunk.byteLength;
            meter.add(downloaded);
            if (Date.now() - last > 200) {
              last = Date.now();
              opts.onProgress?.({ stage: 'downloading', repo: snap.repo, file, bytesDone: base + size, bytesTotal: total, rate: meter.rate(), etaSeconds: meter.eta(total - base - size), resumed });
            }
          }
        } catch (err) {
          if (signal?.aborted) throw new AppError('cancelled', 'download cancelled');
          if (err instanceof AppError && err.code !== 'network_error') throw err;
          failures = size > before ? 1 : failures + 1;
          if (failures > 5) throw new AppError('network_error', `${snap.repo}/${file}: ${(err as Error).message}; run the pull again to resume`);
        } finally {
          closeSync(fd);
        }
      }
      opts.onProgress?.({ stage: 'verifying', repo: snap.repo, file, bytesDone: base + size, bytesTotal: total, rate: meter.rate(), etaSeconds: null, resumed });
      const sha256 = await hashFile(path);
      const lfs = listing.get(file)?.sha256;
      if (sha256 !== entry.sha256 || (lfs && lfs !== sha256)) {
        await rm(path, { force: true });
        throw new AppError('integrity_failed', `sha256 ${sha256} does not match ${entry.sha256} in the published ${MANIFEST_FILE}: the file was discarded; run the pull again`, { file: `${snap.repo}/${file}` });
      }
      base += entry.bytes;
    }
    await work.clearBookkeeping();
    await writeFile(work.path(MANIFEST_FILE), manifestBytes); // last: the folder is a model only with it
    if (existsSync(out)) await rm(out, { recursive: true, force: true });
    await rename(work.dir, out);
    opts.onProgress?.({ stage: 'done', repo: snap.repo, bytesDone: total, bytesTotal: total, rate: meter.rate(), etaSeconds: 0, resumed });
    return { dir: out, manifest, downloadedBytes: downloaded, resumed, alreadyPresent: false };
  } finally {
    await work.release();
  }
}

function parseManifest(bytes: Uint8Array, file: string): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new AppError('model_invalid', `the published ${MANIFEST_FILE} is not JSON`, { file, cause });
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) throw new AppError('model_invalid', `the published ${MANIFEST_FILE} is not a Photo Assistant model manifest this version reads: ${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`, { file });
  for (const f of Object.keys(r.data.files)) {
    if (f.includes('..') || f.startsWith('/') || f === MANIFEST_FILE) throw new AppError('model_invalid', `the published ${MANIFEST_FILE} names an unsafe file "${f}"`, { file });
  }
  return r.data;
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
