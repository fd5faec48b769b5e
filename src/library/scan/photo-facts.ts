// The facts the catalog keeps about one photo file: size, modification time, format, displayed
// dimensions and capture date. Reads headers (sharp metadata + exif-reader) and, by default, test-
// decodes a small version so that truncated or undecodable photos are caught at indexing time
// rather than later in the thumbnailer or the model.
import { stat } from 'node:fs/promises';
import exifReader from 'exif-reader';
import sharp, { type Metadata } from 'sharp';
import { MAX_INPUT_PIXELS, openPhoto, pixelLimitFor } from '../../runtime/image/preprocess.ts';
import {
  explainDecodeError,
  explainFsError,
  heicUnsupported,
  photoUnreadable,
  tooManyPixels,
} from './decode-errors.ts';
import { sniffImageType, type ImageType } from './sniff.ts';

export interface PhotoFacts {
  size: number;
  mtimeMs: number;
  format: ImageType;
  /** As displayed: EXIF orientations 5–8 (quarter turns) swap the stored width and height. */
  width: number;
  height: number;
  /**
   * EXIF DateTimeOriginal (else DateTimeDigitized) as ISO 8601 local wall-clock time, e.g.
   * "2021-06-15T14:30:05", with the offset appended ("+02:00") only when EXIF records one:
   * cameras store no time zone, so a "Z" would be a lie.
   */
  exifDate?: string;
}

export interface PhotoFactsOptions {
  /**
   * Decode a small version to prove the pixels are readable (default true). Costs a few tens of
   * milliseconds for a large JPEG (libjpeg decodes at 1/8 scale); HEIF is always checked.
   */
  verify?: boolean;
}

/** Smallest decode that still reads every compressed byte (JPEG/WebP shrink-on-load). */
const VERIFY_SIZE = 64;

export async function photoFacts(path: string, opts: PhotoFactsOptions = {}): Promise<PhotoFacts> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw explainFsError(path, err);
  }
  if (!st.isFile()) throw photoUnreadable(path, 'it is not a regular file');
  if (st.size === 0) throw photoUnreadable(path, 'the file is empty (0 bytes)');

  let format: ImageType | undefined;
  try {
    format = await sniffImageType(path);
  } catch (err) {
    throw explainFsError(path, (err as Error).cause ?? err);
  }
  if (!format) {
    throw photoUnreadable(path, 'it is not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC, BMP, camera RAW)');
  }
  if (format === 'heic' || format === 'raw' || format === 'jxl') return decodedFacts(path, format, st);

  // limitInputPixels is off here only because metadata never decodes; the check is ours, below,
  // so that the message can name the declared size.
  const input = { failOn: 'error', limitInputPixels: false } as const;
  let meta: Metadata;
  try {
    meta = await sharp(path, input).metadata();
  } catch (err) {
    throw explainDecodeError(path, err);
  }
  const { width, height } = meta;
  if (!width || !height) throw photoUnreadable(path, 'the image header gives no dimensions');
  // Panoramas (≥ 2:1) up to MAX_PANORAMA_PIXELS are decoded shrunk, everything else up to MAX_INPUT_PIXELS.
  const limit = pixelLimitFor(width, height);
  if (width * height > limit) throw tooManyPixels(path, width, height);

  const hevc = meta.format === 'heif' && meta.compression === 'hevc';
  if (opts.verify ?? true) {
    await verifyDecode(path, hevc, limit);
  } else if (hevc) {
    await verifyDecode(path, true, limit); // the one case where headers say nothing about decodability
  }

  const o = meta.orientation ?? 1;
  const quarterTurn = o >= 5 && o <= 8;
  const exifDate = meta.exif ? readExifDate(meta.exif) : undefined;
  return {
    size: st.size,
    mtimeMs: st.mtimeMs,
    format,
    width: quarterTurn ? height : width,
    height: quarterTurn ? width : height,
    ...(exifDate ? { exifDate } : {}),
  };
}

/**
 * HEIF and RAW: the header alone proves nothing (the codec or the preview may be missing), so the
 * photo is opened through the same decoder the thumbnails and the model use. HEIF: dimensions of the
 * decoded primary image (already upright), EXIF date from its EXIF item. RAW: the embedded preview's
 * dimensions turned by the RAW's orientation, the date from the RAW's own TIFF metadata, else from
 * the preview's EXIF.
 */
async function decodedFacts(path: string, format: ImageType, st: { size: number; mtimeMs: number }): Promise<PhotoFacts> {
  const src = await openPhoto(path, format);
  let width: number;
  let height: number;
  let exifDate: string | undefined;
  if (src.kind === 'rgb') {
    ({ width, height } = src.image);
    if (src.raw?.tiff) {
      exifDate = readExifDate(src.raw.tiff); // a RAW's date is in its own TIFF metadata
    } else {
      // libheif's header reader in sharp reaches a HEIF's EXIF item even where it cannot decode HEVC.
      const meta = await sharp(path, { limitInputPixels: false }).metadata().catch(() => undefined);
      exifDate = meta?.exif ? readExifDate(meta.exif) : undefined;
    }
  } else {
    let meta: Metadata;
    try {
      meta = await sharp(src.input, { failOn: 'error', limitInputPixels: false }).metadata();
      await sharp(src.input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS }).resize(VERIFY_SIZE, VERIFY_SIZE, { fit: 'inside' }).raw().toBuffer();
    } catch (err) {
      throw explainDecodeError(path, err);
    }
    if (!meta.width || !meta.height) throw photoUnreadable(path, 'the embedded preview gives no dimensions');
    const o = src.orientation === 'exif' ? (meta.orientation ?? 1) : src.orientation;
    const quarterTurn = o >= 5 && o <= 8;
    width = quarterTurn ? meta.height : meta.width;
    height = quarterTurn ? meta.width : meta.height;
    exifDate = (src.raw?.tiff ? readExifDate(src.raw.tiff) : undefined) ?? (meta.exif ? readExifDate(meta.exif) : undefined);
  }
  return { size: st.size, mtimeMs: st.mtimeMs, format, width, height, ...(exifDate ? { exifDate } : {}) };
}

async function verifyDecode(path: string, hevc: boolean, limit = MAX_INPUT_PIXELS): Promise<void> {
  try {
    await sharp(path, { failOn: 'error', limitInputPixels: limit, sequentialRead: true })
      .resize(VERIFY_SIZE, VERIFY_SIZE, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (err) {
    // libheif's wording for a missing HEVC plugin varies by version; the compression tells us.
    throw hevc ? heicUnsupported(path, err) : explainDecodeError(path, err);
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** EXIF capture time as ISO 8601; undefined when absent, implausible or the block is damaged. */
export function readExifDate(exif: Buffer): string | undefined {
  let tags;
  try {
    tags = exifReader(exif);
  } catch {
    return undefined; // a damaged EXIF block costs the date, not the photo
  }
  const photo = tags.Photo ?? {};
  for (const [dateKey, offsetKey] of [
    ['DateTimeOriginal', 'OffsetTimeOriginal'],
    ['DateTimeDigitized', 'OffsetTimeDigitized'],
  ] as const) {
    const d = photo[dateKey] as unknown;
    // exif-reader builds the Date with Date.UTC from the wall-clock fields, so the UTC getters
    // give those fields back unchanged.
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) continue;
    const year = d.getUTCFullYear();
    if (year < 1830 || year > 2200) continue; // "0000:00:00 00:00:00" placeholders and garbage
    const local =
      `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
      `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    const offset = photo[offsetKey] as unknown;
    return typeof offset === 'string' && /^[+-]\d{2}:\d{2}$/.test(offset.trim()) ? local + offset.trim() : local;
  }
  return undefined;
}
