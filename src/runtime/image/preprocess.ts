// Turns a photo file into BLIP-2's `pixel_values`, matching Hugging Face's BlipImageProcessor
// (transformers 4.45): decode -> RGB (alpha dropped, not composited) -> PIL bicubic resize straight
// to width x height -> * rescale_factor (float64, then float32) -> (x - mean) / std in float32 -> CHW.
// The only deliberate difference from HF: EXIF orientation is applied by default, as a photo app must.
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { AppError } from '../../shared/errors.ts';
import { resizeBicubicPil, type RgbImage } from './pil-resize.ts';
import { sniffImageType } from './decode/image-type.ts';
import { openPhotoSource, sourceFormatOf, uprightPipeline, type PhotoSource } from './decode/photo-source.ts';

export type { RgbImage } from './pil-resize.ts';
export type { PreprocessConfig } from '../../shared/preprocess-config.ts';
import type { PreprocessConfig } from '../../shared/preprocess-config.ts';

export interface DecodeOptions {
  /** Rotate/flip per the EXIF Orientation tag (default true; HF itself does not). */
  applyExifOrientation?: boolean;
}

/** Refuse anything larger before decoding: a tiny file can declare gigapixels (decompression bomb). */
export const MAX_INPUT_PIXELS = 100_000_000;
/**
 * Panoramas (at least 2:1) may go up to this size: they are downscaled while decoding (libvips
 * streams the rows; JPEG shrinks on load), so memory follows the output, not the input.
 */
export const MAX_PANORAMA_PIXELS = 1_000_000_000;
/** A panorama's decoded long side for the model and the checks (the model sees 224×224 anyway). */
export const PANORAMA_DECODE_LONG_SIDE = 8192;

/** True when an image of these dimensions is over the normal limit but decodable as a panorama. */
export function isLargePanorama(width: number, height: number): boolean {
  const pixels = width * height;
  return pixels > MAX_INPUT_PIXELS && pixels <= MAX_PANORAMA_PIXELS && Math.max(width, height) >= 2 * Math.min(width, height);
}

/** The decoder's pixel limit for an image of these dimensions (see isLargePanorama). */
export function pixelLimitFor(width: number, height: number): number {
  return isLargePanorama(width, height) ? MAX_PANORAMA_PIXELS : MAX_INPUT_PIXELS;
}

/** The pixel limit for a source about to be decoded by sharp: reads its header (cheap). */
export async function pixelLimitOf(src: PhotoSource): Promise<number> {
  if (src.kind !== 'sharp') return MAX_INPUT_PIXELS;
  const meta = await sharp(src.input, { limitInputPixels: false }).metadata().catch(() => undefined);
  return meta?.width && meta.height ? pixelLimitFor(meta.width, meta.height) : MAX_INPUT_PIXELS;
}

function unreadable(file: string, problem: string, cause?: unknown): AppError {
  return new AppError('photo_unreadable', `cannot read photo ${file}: ${problem}`, { file, cause });
}

/** Puts sharp/libvips messages into plain words, keeping the original text for the details. */
function explainSharpError(file: string, err: unknown): AppError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(msg)) {
    return unreadable(file, `the image is too large (more than ${MAX_INPUT_PIXELS / 1e6} megapixels); refusing to decode it`, err);
  }
  if (/unsupported image format|not a known file format|not in a known format/i.test(msg)) {
    return unreadable(file, 'it is not an image, or not in a format that can be read (JPEG, PNG, WebP, AVIF, TIFF, GIF)', err);
  }
  if (/premature end|truncat|unexpected end|end of file|EOF/i.test(msg)) {
    return unreadable(file, `the image data is truncated (the file looks cut short) [${msg.trim()}]`, err);
  }
  return unreadable(file, `the image data is damaged or cannot be decoded [${msg.trim()}]`, err);
}

/** A HEIF/RAW decoder's failure in plain words (the decoder's own text kept in brackets and `cause`). */
export function explainSourceError(file: string, format: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const msg = (err instanceof Error ? err.message : String(err)).trim();
  if (/pixel limit/i.test(msg)) {
    return unreadable(file, `the image is too large (more than ${MAX_INPUT_PIXELS / 1e6} megapixels); refusing to decode it`, err);
  }
  if (format === 'heic') {
    if (/end of file|truncat|out of bounds|outside of file/i.test(msg)) {
      return unreadable(file, `the HEIC/HEIF data is truncated (the file looks cut short) [${msg.split('\n')[0]}]`, err);
    }
    return unreadable(file, `the HEIC/HEIF data is damaged or cannot be decoded [${msg.split('\n')[0]}]`, err);
  }
  return unreadable(file, msg, err);
}

/**
 * Opens a photo for any decoder: HEIF (wasm libheif, off-thread), RAW (embedded preview) or sharp.
 * `format` is the sniffed type when the caller has it. Throws photo_unreadable in plain words.
 */
export async function openPhoto(path: string, type?: string): Promise<PhotoSource> {
  const fmt = sourceFormatOf((type ?? (await sniffImageType(path).catch(() => undefined))) as Parameters<typeof sourceFormatOf>[0]);
  try {
    return await openPhotoSource(path, fmt, MAX_INPUT_PIXELS);
  } catch (err) {
    throw explainSourceError(path, fmt, err);
  }
}

/**
 * Decodes any image we read (first frame of animations; HEIC/HEIF; a RAW's embedded preview) to
 * 8-bit RGB like PIL's `convert("RGB")`: alpha dropped without compositing, grey replicated to 3
 * channels, 16-bit reduced to 8-bit, CMYK converted. A HEIF comes back upright by its own transforms.
 */
export async function decodeImage(path: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  // Check the file ourselves first so that the common mistakes get a precise message.
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw unreadable(path, 'it is not a regular file');
    size = st.size;
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw unreadable(path, 'the file does not exist', err);
    if (code === 'EACCES' || code === 'EPERM') throw unreadable(path, 'permission denied', err);
    throw unreadable(path, (err as Error).message, err);
  }
  if (size === 0) throw unreadable(path, 'the file is empty (0 bytes)');

  const src = await openPhoto(path);
  if (src.kind === 'rgb') return src.image;
  const limit = await pixelLimitOf(src);
  try {
    const sharpOptions = {
      // 'error' rejects truncated/corrupt data (PIL refuses truncated files too) but tolerates the
      // harmless warnings many real-world JPEGs carry.
      failOn: 'error',
      limitInputPixels: limit,
      // A panorama is read row by row while it is shrunk (memory bounded by the output).
      sequentialRead: limit > MAX_INPUT_PIXELS,
      // PIL ignores embedded ICC profiles, so HF's pixels are the stored values; do the same.
      ignoreIcc: true,
    } as const;
    const pipeline = uprightPipeline(opts.applyExifOrientation ?? true ? src : { ...src, orientation: 1 }, sharpOptions);
    // The one departure from decoding at full size: a panorama over MAX_INPUT_PIXELS is shrunk
    // first (libvips' reduce), then takes the same PIL-exact path to the model's size.
    if (limit > MAX_INPUT_PIXELS) pipeline.resize(PANORAMA_DECODE_LONG_SIDE, PANORAMA_DECODE_LONG_SIDE, { fit: 'inside' });
    const { data, info } = await pipeline
      .removeAlpha()
      .toColourspace('srgb') // grey -> 3 channels, 16-bit -> 8-bit, CMYK -> RGB
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`decoder produced ${info.channels} channels instead of 3`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    throw explainSharpError(path, err);
  }
}

/**
 * RGB -> float32 [3, H, W]. Each step is rounded to float32 where numpy's float32 arrays would round:
 * rescale is float64 u8 * factor then cast; normalize casts mean/std to float32 and does the
 * subtraction and the division in float32 (each exactly a double op followed by Math.fround).
 */
export function pixelValuesFromRgb(img: RgbImage, cfg: PreprocessConfig): Float32Array {
  const src = cfg.doResize ? resizeBicubicPil(img, cfg.width, cfg.height) : img;
  const plane = src.width * src.height;
  const out = new Float32Array(3 * plane);
  const data = src.data;
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(cfg.mean[c]);
    const std = Math.fround(cfg.std[c]);
    // Values depend only on the byte, so compute the 256 possible results once per channel.
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      let x = cfg.doRescale ? Math.fround(v * cfg.rescaleFactor) : v;
      if (cfg.doNormalize) x = Math.fround(Math.fround(x - mean) / std);
      lut[v] = x;
    }
    const base = c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = lut[data[i * 3 + c]];
  }
  return out;
}

/** File -> model input `pixel_values` with batch dimension 1. */
export async function loadPixelValues(
  path: string,
  cfg: PreprocessConfig,
  opts: DecodeOptions = {},
): Promise<{ data: Float32Array; dims: [1, 3, number, number] }> {
  const img = await decodeImage(path, opts);
  const data = pixelValuesFromRgb(img, cfg);
  const [h, w] = cfg.doResize ? [cfg.height, cfg.width] : [img.height, img.width];
  return { data, dims: [1, 3, h, w] };
}
