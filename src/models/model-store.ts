// The folder where pulled models live: naming, listing, full verification and removal. A model
// folder is ready only when its model.json (written last, folder renamed into place) verifies;
// unfinished pulls live in hidden `.<name>.pull` work folders next to it and can be resumed.
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { AppError, toErrorData, type ErrorData } from '../shared/errors.ts';
import { MANIFEST_FILE, modelLabel, type ModelManifest } from '../shared/model-manifest.ts';
import { readManifest, verifyChecksums } from '../runtime/model-folder.ts';

/** $PHOTO_ASSISTANT_MODELS, else the platform's per-user data folder. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env.PHOTO_ASSISTANT_MODELS) return resolve(env.PHOTO_ASSISTANT_MODELS);
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'Photo Assistant', 'models');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Photo Assistant', 'models');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'photo-assistant', 'models');
}

/** `Salesforce/blip2-opt-2.7b` + int4 → `Salesforce--blip2-opt-2.7b-int4` (or as-published for pre-converted repos). */
export function folderNameFor(repo: string, quant: string | undefined): string {
  const base = repo.replace('/', '--');
  return quant ? `${base}-${quant}` : base;
}

export const pullWorkDir = (modelsDir: string, name: string) => join(modelsDir, `.${name}.pull`);

export interface InstalledModel {
  name: string;
  dir: string;
  state: 'ready' | 'invalid' | 'partial';
  label?: string;
  kind?: ModelManifest['kind'];
  weights?: string;
  repo?: string;
  commit?: string;
  bytes: number;
  error?: ErrorData;
}

/** Every model folder (and unfinished pull) in `modelsDir`, with its size and a cheap check. */
export async function listInstalled(modelsDir: string): Promise<InstalledModel[]> {
  const names = await readdir(modelsDir).catch(() => [] as string[]);
  const out: InstalledModel[] = [];
  for (const entry of names.sort()) {
    const dir = join(modelsDir, entry);
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) continue;
    const pull = /^\.(.+)\.pull$/.exec(entry);
    if (pull) {
      out.push({ name: pull[1], dir, state: 'partial', bytes: await folderBytes(dir) });
      continue;
    }
    if (entry.startsWith('.') || !existsSync(join(dir, MANIFEST_FILE))) continue;
    try {
      const m = await readManifest(dir);
      out.push({
        name: entry, dir, state: 'ready', label: modelLabel(m, entry), kind: m.kind, weights: m.quantization.weights,
        ...(m.source.repo ? { repo: m.source.repo } : {}), ...(m.source.commit ? { commit: m.source.commit } : {}),
        bytes: Object.values(m.files).reduce((a, f) => a + f.bytes, 0),
      });
    } catch (err) {
      out.push({ name: entry, dir, state: 'invalid', bytes: await folderBytes(dir), error: toErrorData(err) });
    }
  }
  return out;
}

/** Recomputes every checksum of a model folder; throws model_invalid naming the bad files. */
export async function verifyModel(dir: string, onFile?: (name: string) => void): Promise<ModelManifest> {
  const m = await readManifest(dir);
  const bad = await verifyChecksums(dir, m, onFile);
  if (bad.length) {
    throw new AppError('model_invalid', `${bad.length} file(s) do not match their checksum in ${MANIFEST_FILE}: ${bad.join(', ')}. Pull the model again (photo-assistant models pull ${m.source.repo ?? '<repo>'} --force)`, { file: dir });
  }
  return m;
}

/** Removes a model folder (or an unfinished pull) by name or path, only inside `modelsDir`. */
export async function removeModel(modelsDir: string, nameOrDir: string): Promise<string> {
  const all = await listInstalled(modelsDir);
  const target = all.find((m) => m.name === nameOrDir || m.dir === resolve(nameOrDir) || m.label === nameOrDir);
  if (!target) throw new AppError('model_missing', `no model "${nameOrDir}" in ${modelsDir} (see: photo-assistant models list)`);
  await rm(target.dir, { recursive: true, force: true });
  if (target.state !== 'partial') await rm(pullWorkDir(modelsDir, target.name), { recursive: true, force: true });
  return target.dir;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? await folderBytes(p) : await stat(p).then((s) => s.size, () => 0);
  }
  return total;
}
