// The initial pass over a library folder: finds image files by their content and yields them one
// at a time, so a million-photo drive is walked with memory for the pending folder list only.
// Problems with single entries (permission denied, broken links, undecodable names) are reported
// through onError and the walk goes on; only an unusable root stops it.
//
// Paths are yielded as strings (what the catalog, chokidar and sharp use). A name that is not valid
// UTF-8 cannot be written as a string that leads back to the file, so such files and folders are
// reported via onError (io_error, lossy name) and skipped rather than yielded under a wrong path.
import type { Dirent } from 'node:fs';
import { opendir, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AppError } from '../../shared/errors.ts';
import { isCoveredByRoot, isIgnoredName } from './ignore.ts';
import { indexSiblings, roleOf, type PairPreference } from './companions.ts';
import { MIN_IMAGE_BYTES, sniffImageType } from './sniff.ts';

export { isIgnoredPath } from './ignore.ts';

export interface ScannedFile {
  /** Absolute path, through the folder (or followed folder symlink) where the walk found it. */
  path: string;
  size: number;
  mtimeMs: number;
}

export interface ScanOptions {
  signal?: AbortSignal;
  /** Called for each entry that could not be read; the walk continues. Unset: such entries are skipped quietly. */
  onError?: (err: AppError) => void;
  /** Called for each file skipped on purpose: a video, or a photo's companion (Live Photo video, the other half of a RAW+JPEG pair). */
  onSkipped?: (path: string, role: 'video' | 'companion') => void;
  /** Which half of a RAW+JPEG pair is the photo (default 'jpeg'). */
  pairPreference?: PairPreference;
}

const PHOTO_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif|hei[cf]|bmp|jxl|dng|cr[23w]|nef|nrw|arw|srf|sr2|raf|orf|rw2|pef|srw|erf|kdc|dcr|mos|3fr|iiq|rwl|mrw|x3f)$/i;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function fsProblem(path: string, what: string, err: unknown): AppError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOENT' ? 'it disappeared or is a broken link'
    : code === 'ELOOP' ? 'too many levels of symbolic links'
    : (err as Error).message;
  return new AppError('io_error', `cannot ${what} ${path}: ${why}`, { file: path, cause: err });
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AppError('cancelled', 'the folder scan was cancelled');
}

/**
 * Walks `root` depth-first and yields every image file (by content sniff) not excluded by the
 * shared ignore rules. Symlinks are followed, except those pointing inside the root (the walk
 * reaches their targets anyway, so each photo comes under one path) or above it (a loop); a
 * folder reached through links is entered at most once (visits are tracked by device+inode). Throws AppError 'io_error' if the root itself is missing or unreadable, 'cancelled'
 * on abort.
 */
export async function* scanFolder(root: string, opts: ScanOptions = {}): AsyncGenerator<ScannedFile> {
  const { signal, onError } = opts;
  const report = (err: AppError) => onError?.(err);
  const start = resolve(root);
  let realRoot: string;
  let rootStat;
  try {
    rootStat = await stat(start);
    if (!rootStat.isDirectory()) throw new AppError('io_error', `${start} is not a folder`, { file: start });
    realRoot = await realpath(start);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw fsProblem(start, 'scan the folder', err);
  }

  // dev:ino of every directory entered: the loop guard for symlinks and bind mounts.
  const visited = new Set<string>();
  // Folders still to read. Paths, not open handles: memory grows with the number of pending
  // folders, and open file descriptors stay at one however deep the tree is.
  const pending: string[] = [start];
  visited.add(`${rootStat.dev}:${rootStat.ino}`);

  while (pending.length > 0) {
    checkAbort(signal);
    const dirPath = pending.pop()!;
    let dir;
    try {
      // Buffer names, so that a name which is not valid UTF-8 can be detected instead of being
      // silently turned into U+FFFD (a path that does not exist).
      dir = await opendir(dirPath, { encoding: 'buffer' as BufferEncoding, bufferSize: 64 });
    } catch (err) {
      if (dirPath === start) throw fsProblem(dirPath, 'read the folder', err);
      report(fsProblem(dirPath, 'read the folder', err));
      continue;
    }
    // One folder's entries are read before any is judged: a companion is known by its siblings
    // (memory: one folder's names, never the tree's).
    const entries: [string, Dirent<Buffer>][] = [];
    try {
      for await (const entry of dir as AsyncIterable<Dirent<Buffer>>) {
        checkAbort(signal);
        let name: string;
        try {
          name = strictUtf8.decode(entry.name);
        } catch {
          const shown = join(dirPath, entry.name.toString('utf8'));
          report(new AppError('io_error', `skipped ${shown}: its name is not valid UTF-8 (rename it to include it in the library)`, { file: shown }));
          continue;
        }
        if (isIgnoredName(name)) continue;
        entries.push([name, entry]);
      }
    } catch (err) {
      if (err instanceof AppError) throw err; // cancellation
      report(fsProblem(dirPath, 'finish reading the folder', err));
    }
    const siblings = indexSiblings(entries.filter(([, e]) => !e.isDirectory()).map(([n]) => n));
    try {
      for (const [name, entry] of entries) {
        checkAbort(signal);
        const path = join(dirPath, name);
        if (!entry.isDirectory()) {
          const role = roleOf(name, siblings, opts.pairPreference);
          if (role) {
            opts.onSkipped?.(path, role);
            continue;
          }
        }
        const found = await visit(path, entry, realRoot, visited, report);
        if (found === 'dir') pending.push(path);
        else if (found) yield found;
      }
    } catch (err) {
      if (err instanceof AppError) throw err; // cancellation
      report(fsProblem(dirPath, 'finish reading the folder', err));
    }
    // for-await closes the Dir on completion, error or early return (consumer break).
  }
}

/** Classifies one directory entry: a folder to enter, an image file to yield, or nothing. */
async function visit(
  path: string,
  entry: Dirent<Buffer>,
  realRoot: string,
  visited: Set<string>,
  report: (err: AppError) => void,
): Promise<'dir' | ScannedFile | undefined> {
  const isLink = entry.isSymbolicLink();
  // Only regular files, folders and links to them matter; FIFOs, sockets and devices are never
  // opened (opening a FIFO would block the walk).
  if (!isLink && !entry.isFile() && !entry.isDirectory()) return undefined;
  let st;
  try {
    st = await stat(path); // follows links: a link is judged by what it points to
  } catch (err) {
    report(fsProblem(path, isLink ? 'follow the link' : 'read', err));
    return undefined;
  }
  if (isLink) {
    let target: string;
    try {
      target = await realpath(path);
    } catch (err) {
      report(fsProblem(path, 'follow the link', err));
      return undefined;
    }
    if (isCoveredByRoot(target, realRoot)) return undefined; // the walk reaches the target itself
  }
  if (st.isDirectory()) {
    const key = `${st.dev}:${st.ino}`;
    if (visited.has(key)) return undefined;
    visited.add(key);
    return 'dir';
  }
  if (!st.isFile()) return undefined;
  // Files named like photos that are not photos are reported (a person expects them in the library);
  // other files (videos, documents) are skipped quietly.
  const looksLikePhoto = PHOTO_EXTENSIONS.test(path);
  if (st.size < MIN_IMAGE_BYTES) {
    if (looksLikePhoto) report(new AppError('photo_unreadable', `skipped ${path}: ${st.size === 0 ? 'the file is empty (0 bytes)' : 'the file is too small to be an image'}`, { file: path }));
    return undefined;
  }
  try {
    if (!(await sniffImageType(path))) {
      if (looksLikePhoto) report(new AppError('photo_unreadable', `skipped ${path}: it is not an image despite its name (unknown content)`, { file: path }));
      return undefined;
    }
  } catch (err) {
    report(fsProblem(path, 'read', (err as Error).cause ?? err));
    return undefined;
  }
  return { path, size: st.size, mtimeMs: st.mtimeMs };
}
