// Whether a path lies inside a folder, for any platform's paths: decided by path.relative (which on
// Windows compares case-insensitively and understands both separators and drive letters), never by
// gluing '/' onto a folder name. The path module is a parameter so tests can run path.win32 here.
import nodePath from 'node:path';

export type PathApi = Pick<typeof nodePath, 'relative' | 'isAbsolute' | 'sep'>;

/** `child` is strictly inside `parent` (at any depth). */
export function isInside(parent: string, child: string, p: PathApi = nodePath): boolean {
  const rel = p.relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${p.sep}`) && !p.isAbsolute(rel);
}

/** The innermost of `folders` that contains `path` (nested watched folders: the deepest wins). */
export function folderContaining<F extends { path: string }>(folders: readonly F[], path: string, p: PathApi = nodePath): F | undefined {
  return folders.filter((f) => isInside(f.path, path, p)).sort((a, b) => b.path.length - a.path.length)[0];
}
