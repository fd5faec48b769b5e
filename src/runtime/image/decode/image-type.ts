// Tells an image's format from its first bytes (magic numbers), never from its name: cameras,
// phones and people all get extensions wrong, and a text file called .jpg must not reach a decoder.
// Lives in the runtime (the decoder routes on it); the library re-exports it from scan/sniff.ts.
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { AppError } from '../../../shared/errors.ts';

export type ImageType = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heic' | 'bmp' | 'jxl' | 'raw';

/**
 * Camera RAW formats that are plain TIFF containers, told apart from a TIFF only by their name (their
 * first bytes are a TIFF header). CR2, ORF, RW2, RAF and CR3 have signatures of their own.
 */
export const TIFF_RAW_EXTENSIONS: ReadonlySet<string> = new Set([
  '.dng', '.nef', '.nrw', '.arw', '.srf', '.sr2', '.pef', '.srw', '.erf', '.kdc', '.dcr', '.mos', '.3fr', '.iiq', '.rwl', '.mrw', '.x3f',
]);

/** How many leading bytes the sniffer looks at: enough for a long ISO-BMFF `ftyp` brand list. */
export const SNIFF_BYTES = 256;
/** Nothing shorter can be a real image (the shortest signature check below needs 12 bytes). */
export const MIN_IMAGE_BYTES = 12;

// ISO-BMFF brands (ISO/IEC 23008-12, AV1 Image File Format). `mif1`/`msf1`/`miaf` only say
// "some HEIF image", so they decide nothing by themselves: an AVIF usually lists them too.
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEVC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
const GENERIC_HEIF_BRANDS = new Set(['mif1', 'msf1', 'miaf', 'heif']);

// BMP info-header sizes (core, v2..v5); "BM" alone is too common at the start of text to trust.
const BMP_DIB_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

function ascii(b: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...b.subarray(start, end));
}

function startsWith(b: Uint8Array, sig: readonly number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false;
  return true;
}

function sniffIsoBmff(b: Uint8Array): ImageType | undefined {
  if (b.length < 16 || ascii(b, 4, 8) !== 'ftyp') return undefined;
  const boxSize = ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
  if (boxSize < 16) return undefined;
  const brands = [ascii(b, 8, 12)]; // major brand; bytes 12..15 are its minor version
  for (let at = 16; at + 4 <= Math.min(boxSize, b.length); at += 4) brands.push(ascii(b, at, at + 4));
  if (brands.some((x) => AVIF_BRANDS.has(x))) return 'avif';
  if (brands.some((x) => HEVC_BRANDS.has(x))) return 'heic';
  // A HEIF container with no codec brand: in practice an HEVC image (Apple, Samsung).
  if (brands.some((x) => GENERIC_HEIF_BRANDS.has(x))) return 'heic';
  if (brands[0] === 'crx ') return 'raw'; // Canon CR3
  return undefined; // MP4/MOV video, JPEG 2000 ('jp2 '), ...
}

/** The format of an image given its first bytes (at least MIN_IMAGE_BYTES; SNIFF_BYTES ideally). */
export function sniffBytes(b: Uint8Array): ImageType | undefined {
  if (b.length < MIN_IMAGE_BYTES) return undefined;
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  // RAW formats with their own signatures: Canon CR2 (a TIFF marked "CR\x02" at byte 8), Olympus ORF,
  // Panasonic RW2, Fujifilm RAF.
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) && ascii(b, 8, 10) === 'CR' && b[10] === 2) return 'raw';
  if (ascii(b, 0, 4) === 'IIRO' || ascii(b, 0, 4) === 'IIRS' || ascii(b, 0, 4) === 'MMOR') return 'raw';
  if (startsWith(b, [0x49, 0x49, 0x55, 0x00])) return 'raw';
  if (ascii(b, 0, 15) === 'FUJIFILMCCD-RAW') return 'raw';
  // JPEG XL: a bare codestream or the ISO-BMFF-style container.
  if (startsWith(b, [0xff, 0x0a])) return 'jxl';
  if (startsWith(b, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) return 'jxl';
  // Classic TIFF and BigTIFF, both byte orders. NEF, DNG, ARW and others are TIFF containers too:
  // sniffImageType, which knows the name, reports those as 'raw' (TIFF_RAW_EXTENSIONS).
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(b, [0x49, 0x49, 0x2b, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  if (b.length >= 18 && ascii(b, 0, 2) === 'BM') {
    const dib = b[14] | (b[15] << 8) | (b[16] << 16) | (b[17] << 24);
    if (BMP_DIB_SIZES.has(dib)) return 'bmp';
  }
  return sniffIsoBmff(b);
}

/**
 * Reads the first bytes of `path` and names its image format, or undefined when it is not an
 * image we know. Open/read failures (missing, permission denied, a directory) throw AppError
 * 'io_error' with the file: that is a filesystem problem, not a verdict on the content.
 */
export async function sniffImageType(path: string): Promise<ImageType | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
    const buf = new Uint8Array(SNIFF_BYTES);
    let got = 0;
    // A single read may return fewer bytes than asked (pipes, network filesystems): loop.
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const type = sniffBytes(buf.subarray(0, got));
    return type === 'tiff' && TIFF_RAW_EXTENSIONS.has(extname(path).toLowerCase()) ? 'raw' : type;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new AppError('io_error', `cannot read the start of the file (${code}): ${(err as Error).message}`, {
      file: path,
      cause: err,
    });
  } finally {
    await fh?.close();
  }
}
