// Which installed packages the packaged app needs at run time. electron/build.ts bundles every
// dependency except the externals (Electron and the three native modules), so the app's node_modules
// only needs those natives and what they require when loaded — not their install scripts' helpers
// (prebuild-install, adm-zip, global-agent download binaries at `npm install` time) and not the
// bundled packages. electron-builder copies the production tree; the config excludes the rest.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

interface Manifest {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Needed only by a native module's install script (it fetches or builds the binary), never at run time. */
export const INSTALL_ONLY = ['prebuild-install', 'adm-zip', 'global-agent'] as const;

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Node's lookup: <from>/node_modules/<name>, then each parent's node_modules, up to `root`. */
function resolvePackageDir(root: string, from: string, name: string): string | null {
  root = resolve(root);
  let dir = resolve(from);
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return null;
    dir = dirname(dir);
  }
}

/**
 * The installed packages reachable from `names` through dependencies and installed optional
 * dependencies, skipping `skip` (and what only they need). Keys are paths relative to `root`
 * (node_modules/a, node_modules/a/node_modules/b).
 */
export function dependencyClosure(root: string, names: readonly string[], skip: readonly string[] = []): Set<string> {
  const seen = new Set<string>();
  const visit = (from: string, name: string): void => {
    if (skip.includes(name)) return;
    const dir = resolvePackageDir(root, from, name);
    if (!dir) return; // an optional dependency for another platform
    const key = relative(root, dir).split('\\').join('/');
    if (seen.has(key)) return;
    seen.add(key);
    const m = readManifest(dir);
    for (const dep of [...Object.keys(m.dependencies ?? {}), ...Object.keys(m.optionalDependencies ?? {})]) visit(dir, dep);
  };
  for (const name of names) visit(root, name);
  return seen;
}

/** Production packages the app does not load: bundled by esbuild, or needed only at install time. */
export function unneededPackages(root: string, externals: readonly string[]): string[] {
  const production = dependencyClosure(root, Object.keys(readManifest(root).dependencies ?? {}));
  const runtime = dependencyClosure(root, externals.filter((e) => e !== 'electron'), INSTALL_ONLY);
  return [...production].filter((p) => !runtime.has(p)).sort();
}
