// One way into every photo format: decides from the content which decoder reads the file and hands
// back an upright sharp pipeline (thumbnails, renditions, facts) or the decoded RGB (the model).
//   HEIC/HEIF  libheif in wasm on the decoder thread → RGB, upright by the file's own transforms
//   RAW        the largest embedded JPEG preview, turned by the RAW's own orientation tag; without a
//              usable one, the sensor data itself through LibRaw in wasm on the decoder thread
//   JPEG XL    libjxl in wasm on the decoder thread → RGB (the bundled libvips has no libjxl)
//   the rest   sharp/libvips as before (EXIF orientation applied by .rotate())
import { readFile } from 'node:fs/promises';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import type { RgbImage } from '../pil-resize.ts';
import type { ImageType } from './image-type.ts';
import { decodeHeifOffThread, decodeJxlOffThread, decodeRawOffThread } from './decode-pool.ts';
import { findEmbeddedJpegs, MIN_PREVIEW_LONG_SIDE, rawMetadata } from './raw.ts';

/** Formats routed here; the sniffer in src/library/scan/sniff.ts names them (same strings). */
export type SourceFormat = 'heic' | 'raw' | 'jxl' | 'other';

/** A decoder problem in plain words; callers wrap it as photo_unreadable with the file named. */
export class PhotoSourceError extends Error {
  override name = 'PhotoSourceError';
}

export type PhotoSource =
  /** Pixels already decoded and upright (HEIF, JPEG XL, RAW sensor data); a RAW's TIFF metadata. */
  | { kind: 'rgb'; image: RgbImage; raw?: { tiff?: Buffer } }
  /** Bytes or a path for sharp, with the orientation to apply: 'exif' = the file's own tag. */
  | { kind: 'sharp'; input: string | Buffer; orientation: 'exif' | number; raw?: { tiff?: Buffer } };

/** The decoder route for a sniffed type (sniffImageType's answer). */
export function sourceFormatOf(type: ImageType | undefined): SourceFormat {
  return type === 'heic' || type === 'raw' || type === 'jxl' ? type : 'other';
}

/**
 * Opens a photo for decoding. `format` is the sniffer's verdict when the caller has it.
 * Throws PhotoSourceError when the format's decoder cannot read the file.
 */
export async function openPhotoSource(path: string, format: SourceFormat, maxPixels: number): Promise<PhotoSource> {
  if (format === 'heic') {
    return { kind: 'rgb', image: await decodeHeifOffThread(await readFile(path), maxPixels) };
  }
  if (format === 'raw') {
    const bytes = await readFile(path);
    const previews = findEmbeddedJpegs(bytes);
    const best = previews[0];
    const meta = rawMetadata(bytes);
    if (!best || Math.max(best.width, best.height) < MIN_PREVIEW_LONG_SIDE) {
      // No preview worth captioning: demosaic the sensor data (LibRaw turns it upright itself).
      const why = best ? `its embedded preview is only ${best.width}×${best.height}` : 'it has no embedded JPEG preview';
      try {
        // A copy goes to the decoder thread (transferred there); meta.tiff keeps reading these bytes.
        return { kind: 'rgb', image: await decodeRawOffThread(new Uint8Array(bytes), maxPixels), raw: { tiff: meta.tiff } };
      } catch (err) {
        throw new PhotoSourceError(`${why}, and ${(err as Error).message}`, { cause: err });
      }
    }
    const jpeg = Buffer.from(bytes.subarray(best.offset, best.offset + best.length));
    return { kind: 'sharp', input: jpeg, orientation: meta.orientation ?? 'exif', raw: { tiff: meta.tiff } };
  }
  if (format === 'jxl') {
    try {
      return { kind: 'rgb', image: await decodeJxlOffThread(await readFile(path), maxPixels) };
    } catch (err) {
      throw new PhotoSourceError(`the JPEG XL data is damaged or cannot be decoded [${(err as Error).message}]`, { cause: err });
    }
  }
  return { kind: 'sharp', input: path, orientation: 'exif' };
}

/**
 * An upright sharp pipeline over the source. For 'sharp' sources the options (limits, failOn) apply
 * to the decoder; for RGB sources sharp only re-encodes/resizes.
 */
export function uprightPipeline(src: PhotoSource, options: SharpOptions = {}): Sharp {
  if (src.kind === 'rgb') {
    const { width, height, data } = src.image;
    return sharp(data, { raw: { width, height, channels: 3 }, limitInputPixels: options.limitInputPixels });
  }
  const s = sharp(src.input, options);
  return orient(s, src.orientation);
}

/** Applies an EXIF orientation the way libvips' autorot does (rotate, then mirror horizontally). */
export function orient(s: Sharp, orientation: 'exif' | number): Sharp {
  if (orientation === 'exif') return s.rotate();
  switch (orientation) {
    case 2: return s.flop();
    case 3: return s.rotate(180);
    case 4: return s.rotate(180).flop();
    case 5: return s.rotate(90).flop();
    case 6: return s.rotate(90);
    case 7: return s.rotate(270).flop();
    case 8: return s.rotate(270);
    default: return s;
  }
}
