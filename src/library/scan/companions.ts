// Files that belong to a photo without being one: the .MOV of an iPhone Live Photo beside its HEIC
// (or JPEG), and the second half of a RAW+JPEG pair a camera wrote side by side. Such a file is a
// companion: not a failure, not a second photo. Which half of a RAW+JPEG pair is the photo (and is
// analysed) is the user's choice; the other half shares its caption through the catalog's one entry
// (with `--sidecar-name base`, both share one sidecar too). Other videos are skipped quietly and
// counted. Google/Samsung motion photos are single JPEG files with the video appended: they decode
// as the JPEG they are and need no rule here.
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { TIFF_RAW_EXTENSIONS } from './sniff.ts';

/** Which half of a RAW+JPEG pair is catalogued and captioned. */
export type PairPreference = 'jpeg' | 'raw';
export const DEFAULT_PAIR_PREFERENCE: PairPreference = 'jpeg';

export const RAW_EXTENSIONS: ReadonlySet<string> = new Set([...TIFF_RAW_EXTENSIONS, '.cr2', '.cr3', '.crw', '.orf', '.rw2', '.raf']);
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set([
  '.mov', '.mp4', '.m4v', '.3gp', '.avi', '.mkv', '.mts', '.m2ts', '.webm', '.wmv', '.mpg', '.mpeg',
]);
const JPEG_EXTENSIONS = new Set(['.jpg', '.jpeg']);
const LIVE_PHOTO_STILLS = new Set(['.heic', '.heif', '.jpg', '.jpeg']);

/** 'companion' (belongs to a photo beside it), 'video' (a video of its own), or undefined: judge it as a photo. */
export type FileRole = 'companion' | 'video' | undefined;

function split(name: string): [base: string, ext: string] {
  const ext = extname(name).toLowerCase();
  return [name.slice(0, name.length - ext.length).toLowerCase(), ext];
}

/**
 * Groups a folder's file names by base name (case-insensitive: cameras write IMG_1.CR2 beside
 * IMG_1.JPG, people rename one of them). The answer of `roleOf` depends only on this index.
 */
export function indexSiblings(names: Iterable<string>): Map<string, Set<string>> {
  const byBase = new Map<string, Set<string>>();
  for (const n of names) {
    const [base, ext] = split(n);
    let exts = byBase.get(base);
    if (!exts) byBase.set(base, (exts = new Set()));
    exts.add(ext);
  }
  return byBase;
}

/** The role of file `name` given its folder's sibling index. */
export function roleOf(name: string, siblings: Map<string, Set<string>>, pref: PairPreference = DEFAULT_PAIR_PREFERENCE): FileRole {
  const [base, ext] = split(name);
  const others = siblings.get(base) ?? new Set<string>();
  const has = (set: ReadonlySet<string>) => [...others].some((e) => e !== ext && set.has(e));
  if (VIDEO_EXTENSIONS.has(ext)) return has(LIVE_PHOTO_STILLS) ? 'companion' : 'video';
  if (pref === 'raw' && JPEG_EXTENSIONS.has(ext) && has(RAW_EXTENSIONS)) return 'companion';
  if (pref === 'jpeg' && RAW_EXTENSIONS.has(ext) && has(JPEG_EXTENSIONS)) return 'companion';
  return undefined;
}

/**
 * The other half of a RAW+JPEG pair beside `path` (the file the catalog skipped as a companion, or
 * the photo when `path` is the companion): the file with its base name and an extension of the other
 * kind (RAW or JPEG), in lower or upper case, as cameras write them. Probes those few names rather
 * than reading the folder, since it runs for every sidecar write. Empty when there is none.
 */
export function pairHalvesOf(path: string): string[] {
  const ext = extname(path);
  const lower = ext.toLowerCase();
  const other = RAW_EXTENSIONS.has(lower) ? JPEG_EXTENSIONS : JPEG_EXTENSIONS.has(lower) ? RAW_EXTENSIONS : undefined;
  if (!other) return [];
  const stem = path.slice(0, path.length - ext.length);
  const found: string[] = [];
  for (const e of other) {
    // One hit per extension: on a case-insensitive disk both spellings name the same file.
    const hit = [e.toUpperCase(), e].map((x) => stem + x).find((candidate) => existsSync(candidate));
    if (hit) found.push(hit);
  }
  return found;
}
