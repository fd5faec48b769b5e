// Which paths under a library folder are never photos: hidden entries, NAS/OS system folders, our
// own sidecars and half-downloaded files. Shared by the scanner and the folder watcher so that both
// see the same library; also the rule for symlinked folders that both follow at most once.
import { basename, isAbsolute, relative, sep } from 'node:path';

/** System and housekeeping folders (compared case-insensitively: FAT/NTFS vary the spelling). */
export const IGNORED_DIR_NAMES: ReadonlySet<string> = new Set([
  '@eadir', // Synology thumbnails
  '#recycle', // Synology recycle bin
  '@recycle', // QNAP recycle bin
  '$recycle.bin',
  'system volume information',
  '.trashes',
  'lost+found',
  'node_modules',
]);

/** Sidecars and companions we write or read next to photos, plus files that are still arriving. */
export const IGNORED_EXTENSIONS: ReadonlySet<string> = new Set([
  '.xmp', '.txt', '.json', '.tmp',
  '.part', '.crdownload', '.download', // browsers' partial downloads: never a finished photo
]);

/** True for a single file or folder name that is never part of the library. */
export function isIgnoredName(name: string): boolean {
  if (name.startsWith('.')) return true; // hidden, including .Trashes, .DS_Store, ._AppleDouble
  const lower = name.toLowerCase();
  if (IGNORED_DIR_NAMES.has(lower)) return true;
  const dot = lower.lastIndexOf('.');
  return dot > 0 && IGNORED_EXTENSIONS.has(lower.slice(dot));
}

/**
 * True when `path` should be skipped. With `root`, every segment below the root counts (a file
 * inside `.hidden/` is ignored) but the root's own name and its ancestors never do: a library may
 * well live in `~/.photos`. Without `root`, only the last segment is judged.
 */
export function isIgnoredPath(path: string, root?: string): boolean {
  if (root !== undefined) {
    const rel = relative(root, path);
    if (rel === '') return false;
    const outside = rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
    if (!outside) return rel.split(sep).some(isIgnoredName);
  }
  return isIgnoredName(basename(path));
}

/**
 * A symlinked folder whose real target lies inside the library root is reached by the normal walk
 * anyway, and one that points at the root or an ancestor of it is a loop: both are skipped, so each
 * photo is reported under one path. Targets elsewhere are followed (once: callers track visits).
 */
export function isCoveredByRoot(realTarget: string, realRoot: string): boolean {
  const inside = (child: string, parent: string) =>
    child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
  return inside(realTarget, realRoot) || inside(realRoot, realTarget);
}
