// PIL's `Image.resize(size, Image.BICUBIC)` for 8-bit RGB, reproduced operation for operation from
// Pillow's libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc, ImagingResample*_8bpc,
// ImagingResampleInner). BLIP-2's image processor resizes with PIL, and the model was trained on
// those pixels, so "a good bicubic" is not enough: we need PIL's exact fixed-point integers.

/** An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B (HWC). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

const CHANNELS = 3;

/** Pillow: 8 bits of result, 2 bits of headroom for the negative lobes, the rest is fraction. */
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Keys' cubic convolution kernel with a = -0.5, written in Pillow's exact operation order. */
function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
const BICUBIC_SUPPORT = 2.0;

/** Per output index: the first input index used, how many are used, and their fixed-point weights. */
interface Coeffs {
  ksize: number;
  /** bounds[2*i] = first input index, bounds[2*i+1] = number of inputs used. */
  bounds: Int32Array;
  /** ksize weights per output index, already converted to fixed point (normalize_coeffs_8bpc). */
  kk: Int32Array;
}

/**
 * precompute_coeffs + normalize_coeffs_8bpc. `in0`/`in1` are the (float32) box edges; with no box
 * they are 0 and inSize. Double arithmetic here matches C's doubles; `(int)` casts truncate toward zero.
 */
function precomputeCoeffs(inSize: number, in0: number, in1: number, outSize: number): Coeffs {
  const scale = (in1 - in0) / outSize;
  // Antialiasing: when shrinking, the kernel is stretched by the reduction factor.
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = BICUBIC_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let ww = 0.0;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    k.fill(0);
    for (let x = 0; x < xmax; x++) {
      // Same association as C: ((x + xmin) - center) + 0.5, then * ss.
      const w = bicubicFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      if (ww !== 0.0) k[x] /= ww;
    }
    // normalize_coeffs_8bpc: round half away from zero into fixed point, via a truncating (int) cast.
    for (let x = 0; x < ksize; x++) {
      const v = k[x];
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** clip8: take the integer part of the fixed-point sum (arithmetic shift) and saturate to 0..255. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** ImagingResampleHorizontal_8bpc on rows [offset, offset + outHeight) of `src`. */
function resampleHorizontal(src: RgbImage, outWidth: number, offset: number, outHeight: number, c: Coeffs): RgbImage {
  const out = new Uint8Array(outWidth * outHeight * CHANNELS);
  const { ksize, bounds, kk } = c;
  const inRow = src.width * CHANNELS;
  for (let yy = 0; yy < outHeight; yy++) {
    const rowBase = (yy + offset) * inRow;
    const outBase = yy * outWidth * CHANNELS;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2];
      const xmax = bounds[xx * 2 + 1];
      const kBase = xx * ksize;
      convolvePixel(src.data, rowBase + xmin * CHANNELS, CHANNELS, kk, kBase, xmax, out, outBase + xx * CHANNELS);
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}

/**
 * One output pixel: `n` taps starting at `p`, `stride` apart (a pixel horizontally, a row
 * vertically), fixed-point weights from `kk[kBase..]`, rounded and clipped like Pillow.
 */
function convolvePixel(data: Uint8Array, p: number, stride: number, kk: Int32Array, kBase: number, n: number, out: Uint8Array, o: number): void {
  let ss0 = HALF;
  let ss1 = HALF;
  let ss2 = HALF;
  for (let i = 0; i < n; i++, p += stride) {
    const w = kk[kBase + i];
    ss0 += data[p] * w;
    ss1 += data[p + 1] * w;
    ss2 += data[p + 2] * w;
  }
  out[o] = clip8(ss0);
  out[o + 1] = clip8(ss1);
  out[o + 2] = clip8(ss2);
}

/** ImagingResampleVertical_8bpc; `bounds` row indices are relative to `src`'s first row. */
function resampleVertical(src: RgbImage, outHeight: number, c: Coeffs): RgbImage {
  const width = src.width;
  const rowLen = width * CHANNELS;
  const out = new Uint8Array(rowLen * outHeight);
  const { ksize, bounds, kk } = c;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2];
    const ymax = bounds[yy * 2 + 1];
    const kBase = yy * ksize;
    const outBase = yy * rowLen;
    for (let xx = 0; xx < width; xx++) {
      convolvePixel(src.data, ymin * rowLen + xx * CHANNELS, rowLen, kk, kBase, ymax, out, outBase + xx * CHANNELS);
    }
  }
  return { data: out, width, height: outHeight };
}

function checkImage(img: RgbImage): void {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * CHANNELS) {
    throw new RangeError(`RGB buffer holds ${data.length} bytes, expected ${width}x${height}x3 = ${width * height * CHANNELS}`);
  }
}

/**
 * Resize like PIL `img.resize((width, height), Image.BICUBIC)` on an RGB image (whole-image box).
 * Follows ImagingResampleInner: horizontal pass first (only on the rows the vertical pass reads),
 * then vertical; an axis whose size does not change is not resampled at all.
 */
export function resizeBicubicPil(src: RgbImage, width: number, height: number): RgbImage {
  checkImage(src);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`target size must be positive integers, got ${width}x${height}`);
  }
  // Image.resize returns a copy when nothing changes.
  if (width === src.width && height === src.height) {
    return { data: src.data.slice(), width, height };
  }
  // Box (0, 0, src.width, src.height) as in Image.resize; Pillow holds it in float32, exact for sizes < 2^24.
  const needHorizontal = width !== src.width;
  const needVertical = height !== src.height;
  const vert = precomputeCoeffs(src.height, 0, src.height, height);
  // Rows of the source the vertical pass will read.
  const yboxFirst = vert.bounds[0];
  const yboxLast = vert.bounds[height * 2 - 2] + vert.bounds[height * 2 - 1];

  let img = src;
  if (needHorizontal) {
    const horiz = precomputeCoeffs(src.width, 0, src.width, width);
    // The horizontal output starts at row yboxFirst, so shift the vertical bounds with it.
    for (let i = 0; i < height; i++) vert.bounds[i * 2] -= yboxFirst;
    img = resampleHorizontal(src, width, yboxFirst, yboxLast - yboxFirst, horiz);
  }
  if (needVertical) img = resampleVertical(img, height, vert);
  return img;
}
