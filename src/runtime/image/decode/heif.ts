// HEIC/HEIF (and any HEIF the bundled sharp cannot decode) through libheif compiled to wasm
// (libheif-js): no system library, the HEVC decoder (libde265) included. libheif does the work that
// matters for phone photos: grid-tiled images are stitched, 10-bit is reduced to 8-bit, and the
// irot/imir/clap transforms are applied, so the result is already upright; the primary item of a
// multi-image file is the one decoded. EXIF orientation is NOT applied on top: in HEIF the transform
// properties are authoritative (libheif and Apple's readers ignore the EXIF tag).
// Synchronous wasm: callers on a thread that must stay responsive use decode-pool.ts.
import type { RgbImage } from '../pil-resize.ts';

type LibHeif = typeof import('libheif-js/wasm-bundle').default;

let libheifPromise: Promise<LibHeif> | undefined;

/** Loads the 2 MB wasm bundle once, on first use (about 0.1 s). */
function libheif(): Promise<LibHeif> {
  libheifPromise ??= import('libheif-js/wasm-bundle').then((m) => ((m as { default?: LibHeif }).default ?? (m as unknown as LibHeif)));
  return libheifPromise;
}

/** Thrown with libheif's own words; decode-errors/preprocess turn it into photo_unreadable. */
export class HeifDecodeError extends Error {
  override name = 'HeifDecodeError';
}

function isError(x: unknown): x is { code: number; message?: string } {
  return typeof x === 'object' && x !== null && typeof (x as { code?: unknown }).code === 'number' && (x as { code: number }).code !== 0;
}

/** The decoded primary image of a HEIF file as 8-bit RGB (alpha dropped, as PIL's convert("RGB")). */
export async function decodeHeifBytes(bytes: Uint8Array, maxPixels = Infinity): Promise<RgbImage> {
  const h = await libheif();
  const ctx = h.heif_context_alloc();
  if (!ctx) throw new HeifDecodeError('libheif could not allocate a context');
  const handles: unknown[] = [];
  try {
    const read = h.heif_context_read_from_memory(ctx, bytes);
    if (read.code !== h.heif_error_code.heif_error_Ok) throw new HeifDecodeError(read.message ?? `libheif error ${read.code}`);
    const ids = h.heif_js_context_get_list_of_top_level_image_IDs(ctx);
    if (!Array.isArray(ids)) throw new HeifDecodeError(ids.message ?? 'libheif could not list the images');
    if (ids.length === 0) throw new HeifDecodeError('the file holds no image');
    let primary: unknown;
    for (const id of ids) {
      const handle = h.heif_js_context_get_image_handle(ctx, id);
      if (!handle || isError(handle)) continue;
      handles.push(handle);
      if (!primary && h.heif_image_handle_is_primary_image(handle)) primary = handle;
    }
    primary ??= handles[0];
    if (!primary) throw new HeifDecodeError('no image of the file could be opened');
    const w0 = h.heif_image_handle_get_width(primary);
    const h0 = h.heif_image_handle_get_height(primary);
    if (w0 * h0 > maxPixels) throw new HeifDecodeError(`pixel limit: the image declares ${w0}×${h0} pixels`);
    const decoded = await h.heif_js_decode_image2(primary, h.heif_colorspace.heif_colorspace_RGB, h.heif_chroma.heif_chroma_interleaved_RGBA);
    if (!decoded || isError(decoded) || !('channels' in decoded)) {
      throw new HeifDecodeError((decoded as { message?: string } | undefined)?.message ?? 'the image data cannot be decoded');
    }
    try {
      const plane = decoded.channels.find((c) => c.id === h.heif_channel.heif_channel_interleaved);
      if (!plane) throw new HeifDecodeError('libheif returned no interleaved plane');
      const { width, height, stride } = plane;
      const data = new Uint8Array(width * height * 3);
      const src = plane.data;
      for (let y = 0; y < height; y++) {
        let s = y * stride;
        let d = y * width * 3;
        for (let x = 0; x < width; x++, s += 4, d += 3) {
          data[d] = src[s];
          data[d + 1] = src[s + 1];
          data[d + 2] = src[s + 2];
        }
      }
      return { data, width, height };
    } finally {
      h.heif_image_release(decoded.image);
    }
  } finally {
    for (const handle of handles) h.heif_image_handle_release(handle);
    h.heif_context_free(ctx);
  }
}
