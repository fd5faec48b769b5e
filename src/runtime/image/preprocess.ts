// Turns a photo file into BLIP-2's `pixel_values`, matching Hugging Face's BlipImageProcessor
// (transformers 4.45): decode -> RGB (alpha dropped, not composited) -> PIL bicubic resize straight
// to width x height -> * rescale_factor (float64, then float32) -> (x - mean) / std in float32 -> CHW.
// The only deliberate difference from HF: EXIF orientation is applied by default, as a photo app must.
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { z } from 'zod';
import { AppError } from '../../shared/errors.ts';
import { resizeBicubicPil, type RgbImage } from './pil-resize.ts';

export type { RgbImage } from './pil-resize.ts';

export interface PreprocessConfig {
  width: number;
  height: number;
  mean: [number, number, number];
  std: [number, number, number];
  rescaleFactor: number;
  doResize: boolean;
  doRescale: boolean;
  doNormalize: boolean;
}

const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** BLIP-2's published preprocessing (preprocessor_config.json of the Salesforce/blip2-* checkpoints). */
export const DEFAULT_BLIP2_PREPROCESS: PreprocessConfig = {
  width: 224,
  height: 224,
  mean: CLIP_MEAN,
  std: CLIP_STD,
  rescaleFactor: 1 / 255,
  doResize: true,
  doRescale: true,
  doNormalize: true,
};

/** PIL's resampling enum value for BICUBIC, the only filter we reproduce. */
const PIL_BICUBIC = 3;
const PIL_NAMES = ['NEAREST', 'LANCZOS', 'BILINEAR', 'BICUBIC', 'BOX', 'HAMMING'];

const dim = z.number().int().positive().max(16384);
// HF accepts one number (used for all channels) or one per channel.
const perChannel = z.union([z.number().finite(), z.array(z.number().finite()).length(3)]);
const HfSchema = z.looseObject({
  image_processor_type: z.string().optional(),
  do_resize: z.boolean().optional(),
  // BlipImageProcessor turns an int into a square; {shortest_edge} belongs to other processors.
  size: z.union([dim, z.looseObject({ height: dim, width: dim })]).optional(),
  resample: z.number().int().optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().finite().positive().optional(),
  do_normalize: z.boolean().optional(),
  image_mean: perChannel.optional(),
  image_std: perChannel.optional(),
});

function triple(v: number | number[] | undefined, fallback: [number, number, number]): [number, number, number] {
  if (v === undefined) return [...fallback];
  return typeof v === 'number' ? [v, v, v] : [v[0], v[1], v[2]];
}

/**
 * Reads a HF `preprocessor_config.json` object. Missing keys take BlipImageProcessor's class
 * defaults (as HF does), e.g. size 384 — BLIP-2 checkpoints always spell out 224.
 */
export function preprocessConfigFromHf(json: unknown, file = 'preprocessor_config.json'): PreprocessConfig {
  const r = HfSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new AppError('model_invalid', `${file} is not a valid image preprocessor configuration: ${where}: ${issue.message}`, { file });
  }
  const c = r.data;
  if (c.image_processor_type !== undefined && !c.image_processor_type.startsWith('BlipImageProcessor')) {
    throw new AppError('model_invalid', `${file} asks for image processor "${c.image_processor_type}", but only BlipImageProcessor preprocessing is supported`, { file });
  }
  const resample = c.resample ?? PIL_BICUBIC;
  if (resample !== PIL_BICUBIC) {
    const name = PIL_NAMES[resample] ?? `unknown filter ${resample}`;
    throw new AppError('model_invalid', `${file} asks for resample=${resample} (${name}); only 3 (BICUBIC) is supported`, { file });
  }
  const size = typeof c.size === 'number' ? { height: c.size, width: c.size } : c.size ?? { height: 384, width: 384 };
  const std = triple(c.image_std, CLIP_STD);
  if (std.some((s) => s === 0)) {
    throw new AppError('model_invalid', `${file}: image_std must not contain 0`, { file });
  }
  return {
    width: size.width,
    height: size.height,
    mean: triple(c.image_mean, CLIP_MEAN),
    std,
    rescaleFactor: c.rescale_factor ?? 1 / 255,
    doResize: c.do_resize ?? true,
    doRescale: c.do_rescale ?? true,
    doNormalize: c.do_normalize ?? true,
  };
}

export interface DecodeOptions {
  /** Rotate/flip per the EXIF Orientation tag (default true; HF itself does not). */
  applyExifOrientation?: boolean;
}

/** Refuse anything larger before decoding: a tiny file can declare gigapixels (decompression bomb). */
export const MAX_INPUT_PIXELS = 100_000_000;

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

/**
 * Decodes any image sharp reads (first frame of animations) to 8-bit RGB like PIL's `convert("RGB")`:
 * alpha dropped without compositing, grey replicated to 3 channels, 16-bit reduced to 8-bit.
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

  try {
    const pipeline = sharp(path, {
      // 'error' rejects truncated/corrupt data (PIL refuses truncated files too) but tolerates the
      // harmless warnings many real-world JPEGs carry.
      failOn: 'error',
      limitInputPixels: MAX_INPUT_PIXELS,
      // PIL ignores embedded ICC profiles, so HF's pixels are the stored values; do the same.
      ignoreIcc: true,
    });
    if (opts.applyExifOrientation ?? true) pipeline.rotate();
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
