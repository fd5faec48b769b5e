// XMP sidecar files next to photos: where they live, reading them, and writing our fields into
// them without disturbing what other tools keep there. Writes are atomic (temp file in the same
// directory, fsync, rename) so a crash leaves either the old sidecar or the new one, never half.
// A sidecar we cannot parse is never overwritten: it may hold a user's edits from another tool.
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, parse, join } from 'node:path';
import { AppError } from '../../shared/errors.ts';
import { mergeXmp, NEW_PACKET, type XmpUpdate } from './xmp-merge.ts';
import { readXmp, type XmpFields } from './xmp-read.ts';

/**
 * 'ext': `photo.jpg.xmp`, the default of digiKam, darktable and Immich (unique per file).
 * 'base': `photo.xmp`, Lightroom's; shared by `photo.jpg` and `photo.cr2` when both exist.
 */
export type SidecarNaming = 'ext' | 'base';

export function sidecarPath(imagePath: string, naming: SidecarNaming): string {
  if (naming === 'ext') return `${imagePath}.xmp`;
  const p = parse(imagePath);
  return join(p.dir, `${p.name}.xmp`);
}

/** The existing sidecar of `imagePath`: 'ext' naming first, then 'base', each as `.xmp` then `.XMP`. */
export async function findSidecar(imagePath: string): Promise<string | undefined> {
  const ext = sidecarPath(imagePath, 'ext');
  const base = sidecarPath(imagePath, 'base');
  const candidates = [ext, ext.replace(/\.xmp$/, '.XMP'), base, base.replace(/\.xmp$/, '.XMP')];
  for (const candidate of candidates) {
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch (err) {
      if (!isMissing(err)) throw ioError(candidate, 'cannot check for an XMP sidecar', err);
    }
  }
  return undefined;
}

export async function readSidecar(path: string): Promise<XmpFields> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw ioError(path, 'cannot read the XMP sidecar', err);
  }
  return readXmp(text, path);
}

// Serialises read-merge-write per path inside this process: two concurrent updates (a caption and
// tags) would otherwise both read the old file and one would lose the other's change, and both
// would share the same `.tmp-<pid>` file.
const queues = new Map<string, Promise<unknown>>();

/**
 * Create or update the sidecar at `path` with the given fields; fields left undefined are untouched.
 * An existing sidecar that is not well-formed XMP is refused with an AppError and left as it is.
 */
export function writeSidecar(path: string, update: XmpUpdate): Promise<void> {
  const previous = queues.get(path) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => writeNow(path, update));
  queues.set(path, run);
  void run.finally(() => {
    if (queues.get(path) === run) queues.delete(path);
  }).catch(() => undefined);
  return run;
}

async function writeNow(path: string, update: XmpUpdate): Promise<void> {
  let existing: string | undefined;
  try {
    // Strict decoding: rewriting a sidecar that is not valid UTF-8 would mangle bytes we do not own.
    existing = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(await readFile(path));
  } catch (err) {
    if (err instanceof TypeError) {
      throw new AppError('invalid_argument', 'the XMP sidecar is not valid UTF-8; it was left untouched', { file: path });
    }
    if (!isMissing(err)) throw ioError(path, 'cannot read the XMP sidecar; it was left untouched', err);
  }
  let next: string;
  try {
    next = mergeXmp(existing ?? NEW_PACKET, update, path);
  } catch (err) {
    if (existing === undefined || !(err instanceof AppError)) throw err;
    throw new AppError(err.code, `${err.message}; it was left untouched`, { file: path, cause: err });
  }
  if (next === existing) return; // nothing changed: keep the mtime, so folder watchers stay quiet
  await writeAtomic(path, next);
}

/** Write `text` to `path` via `path.tmp-<pid>`: fsync the data, rename over, fsync the directory. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  let mode: number | undefined;
  try {
    mode = (await stat(path)).mode & 0o7777; // keep the permissions the user gave the sidecar
  } catch {
    mode = undefined;
  }
  try {
    const fh = await open(tmp, 'w', mode ?? 0o666);
    try {
      await fh.writeFile(text, 'utf8');
      if (mode !== undefined) await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw ioError(path, 'cannot write the XMP sidecar', err);
  }
  await syncDir(dirname(path));
}

// The rename is only durable once the directory entry is on disk. Windows cannot open a directory
// for fsync, and some file systems refuse it; the data itself is already synced, so that is tolerated.
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort, see above */
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function ioError(file: string, message: string, cause: unknown): AppError {
  const detail = cause instanceof Error ? ` (${cause.message})` : '';
  return new AppError('io_error', `${message}${detail}`, { file, cause });
}
