// Plain-words AppErrors for the library's image reading (facts, thumbnails): what went wrong with
// the file, not libvips' wording. The original message stays in `cause` (and its first line in brackets
// when the failure is not one we recognise).
import { AppError } from '../../shared/errors.ts';
import { MAX_INPUT_PIXELS } from '../../runtime/image/preprocess.ts';

export function photoUnreadable(file: string, problem: string, cause?: unknown): AppError {
  return new AppError('photo_unreadable', `cannot read photo ${file}: ${problem}`, { file, cause });
}

/**
 * The prebuilt sharp ships libheif with AV1 only (HEVC is patent-encumbered), so an iPhone HEIC's
 * header reads fine but its pixels cannot be decoded.
 */
export function heicUnsupported(file: string, cause?: unknown): AppError {
  return photoUnreadable(
    file,
    'HEIC/HEIF photos (HEVC-compressed, as iPhones save them) are not supported by the bundled decoder; ' +
      'convert the photo to JPEG, or set the camera to "Most Compatible"',
    cause,
  );
}

export function tooManyPixels(file: string, width: number, height: number): AppError {
  const mp = ((width * height) / 1e6).toFixed(0);
  return photoUnreadable(
    file,
    `the image declares ${width}×${height} pixels (${mp} megapixels), more than the ` +
      `${MAX_INPUT_PIXELS / 1e6}-megapixel limit; refusing to decode it (possible decompression bomb)`,
  );
}

/** True for the libheif message when a HEIF's codec plugin is missing. */
export function isMissingHeifCodec(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /compression format has not been built in|no decoding plugin|unsupported codec/i.test(msg);
}

/** Filesystem failures before decoding: the cases a person can fix get their own words. */
export function explainFsError(file: string, err: unknown): AppError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return photoUnreadable(file, 'the file does not exist', err);
  if (code === 'EACCES' || code === 'EPERM') return photoUnreadable(file, 'permission denied', err);
  if (code === 'EISDIR') return photoUnreadable(file, 'it is a folder, not a file', err);
  return new AppError('io_error', `cannot read ${file}: ${(err as Error).message}`, { file, cause: err });
}

/** Maps a sharp/libvips failure to photo_unreadable with a message a person can act on. */
export function explainDecodeError(file: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const msg = (err instanceof Error ? err.message : String(err)).trim();
  if (isMissingHeifCodec(err)) return heicUnsupported(file, err);
  if (/pixel limit/i.test(msg)) {
    return photoUnreadable(file, `the image is larger than ${MAX_INPUT_PIXELS / 1e6} megapixels; refusing to decode it`, err);
  }
  if (/unsupported image format|not a known file format|not in a known format/i.test(msg)) {
    return photoUnreadable(file, 'it is not an image, or not in a format that can be read', err);
  }
  if (/premature end|truncat|unexpected end|end of file|EOF/i.test(msg)) {
    // Clear enough without libvips' wording (kept in `cause`).
    return photoUnreadable(file, 'the image data is truncated (the file looks cut short)', err);
  }
  if (/Input file is missing/i.test(msg)) return photoUnreadable(file, 'the file does not exist', err);
  // Unclassified: libvips' first line helps a bug report; the rest is noise for a person.
  const first = msg.split('\n')[0];
  return photoUnreadable(file, `the image data is damaged or cannot be decoded [${first.length > 160 ? `${first.slice(0, 157)}...` : first}]`, err);
}
