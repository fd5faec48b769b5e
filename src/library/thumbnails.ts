// Grid thumbnails: upright (EXIF-oriented) WebP that fits in size×size, cached on disk by content
// hash so that a moved or renamed photo keeps its thumbnail and a cache hit costs one stat(). The
// same cache holds the large renditions the photo view shows for formats a browser cannot (HEIC,
// RAW, TIFF): `rendition()`. HEIC is decoded by wasm libheif on its own thread (decode-pool.ts),
// RAW through its embedded preview; everything else by sharp on libuv's threads.
// Writes go to a temporary file renamed into place, so a crash or a concurrent call never leaves a
// half-written thumbnail under the final name.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../shared/errors.ts';
import { MAX_INPUT_PIXELS, openPhoto, pixelLimitOf } from '../runtime/image/preprocess.ts';
import { uprightPipeline } from '../runtime/image/decode/photo-source.ts';
import { explainDecodeError } from './scan/decode-errors.ts';

export const DEFAULT_THUMBNAIL_SIZE = 320;
/** The photo view's rendition of a HEIC/RAW/TIFF: at most this many pixels on the long side. */
export const RENDITION_SIZE = 4096;
const MAX_THUMBNAIL_SIZE = 4096;
const WEBP_QUALITY = 80;
const RENDITION_QUALITY = 88;

/** Where the thumbnail of content `hash` at `size` lives; two-character fan-out keeps folders small. */
export function thumbnailPath(cacheDir: string, hash: string, size = DEFAULT_THUMBNAIL_SIZE): string {
  return join(cacheDir, hash.slice(0, 2), `${hash}-${size}.webp`);
}

/**
 * Returns the cached thumbnail of `path` (whose contentHash is `hash`), creating it if missing.
 * Throws AppError 'invalid_argument' for a malformed hash or size, 'photo_unreadable' when the
 * photo cannot be decoded, 'io_error' when the cache cannot be written.
 */
export async function thumbnail(
  path: string,
  hash: string,
  cacheDir: string,
  size = DEFAULT_THUMBNAIL_SIZE,
): Promise<string> {
  // The hash becomes a file name: accept only hex so it can never climb out of the cache folder.
  if (!/^[0-9a-f]{8,128}$/i.test(hash)) {
    throw new AppError('invalid_argument', `thumbnail: "${hash}" is not a hex content hash`);
  }
  if (!Number.isInteger(size) || size < 1 || size > MAX_THUMBNAIL_SIZE) {
    throw new AppError('invalid_argument', `thumbnail: size must be an integer from 1 to ${MAX_THUMBNAIL_SIZE}, got ${size}`);
  }
  const hex = hash.toLowerCase();
  const target = thumbnailPath(cacheDir, hex, size);
  try {
    if ((await stat(target)).size > 0) return target; // cache hit: no decode
  } catch {
    // not cached yet
  }

  const dir = join(cacheDir, hex.slice(0, 2));
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new AppError('io_error', `cannot create the thumbnail folder ${dir}: ${(err as Error).message}`, { file: dir, cause: err });
  }
  let webp: Buffer;
  try {
    // Encode to memory (a thumbnail is tens of KB) so decode failures and disk failures stay apart.
    // Upright: EXIF orientation (or the RAW's, or HEIF's transforms); the tag itself is dropped.
    const src = await openPhoto(path);
    // A panorama over the normal limit streams through (sequential rows, memory ~ the output).
    const limitInputPixels = await pixelLimitOf(src);
    webp = await uprightPipeline(src, { failOn: 'error', limitInputPixels, sequentialRead: limitInputPixels > MAX_INPUT_PIXELS })
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: size > DEFAULT_THUMBNAIL_SIZE * 2 ? RENDITION_QUALITY : WEBP_QUALITY })
      .toBuffer();
  } catch (err) {
    throw explainDecodeError(path, err);
  }
  // Unique per call: two concurrent requests for the same photo each write their own file and
  // the second rename simply replaces an identical thumbnail.
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, webp);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new AppError('io_error', `cannot store the thumbnail ${target}: ${(err as Error).message}`, { file: target, cause: err });
  }
  return target;
}

/**
 * The photo view's WebP rendition of `path`, cached beside its thumbnails by content hash. Takes the
 * photo's thumbnail file (what the app already knows how to find) to learn the cache folder and hash.
 */
export async function renditionBesideThumbnail(path: string, thumbnailFile: string): Promise<string> {
  const m = /^(.*)[\\/][0-9a-f]{2}[\\/]([0-9a-f]{8,128})-\d+\.webp$/i.exec(thumbnailFile);
  if (!m) throw new AppError('invalid_argument', `not a thumbnail file: ${thumbnailFile}`);
  return thumbnail(path, m[2], m[1], RENDITION_SIZE);
}
