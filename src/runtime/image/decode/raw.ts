// Camera RAW files (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2, ...) shown through the JPEG the camera
// embedded in them: the full-size preview is what the camera's screen showed, it is fast, and it
// needs no demosaicing. Every RAW format stores it as an ordinary baseline JPEG somewhere in the
// file, so we find it by walking the JPEG marker structure of each SOI we meet (the raw sensor data
// itself is lossless JPEG, SOF3, in CR2/DNG, and is skipped), rather than by one parser per maker.
// Orientation and capture date come from the RAW's own TIFF metadata where the format is TIFF-based,
// else from the preview's EXIF.
import exifReader from 'exif-reader';

export interface EmbeddedJpeg {
  offset: number;
  length: number;
  width: number;
  height: number;
}

/** A preview smaller than this on its long side is a thumbnail, not a picture worth captioning. */
export const MIN_PREVIEW_LONG_SIDE = 640;

/** The end (exclusive) of a well-formed baseline/progressive JPEG starting at `start`, with its size; else undefined. */
function parseJpegAt(b: Uint8Array, start: number): EmbeddedJpeg | undefined {
  let p = start + 2;
  let width = 0;
  let height = 0;
  let sawScan = false;
  const n = b.length;
  while (p + 2 <= n) {
    if (b[p] !== 0xff) return undefined;
    let m = b[p + 1];
    while (m === 0xff && p + 2 < n) { p++; m = b[p + 1]; } // fill bytes
    p += 2;
    if (m === 0xd9) { // EOI
      return sawScan && width > 0 ? { offset: start, length: p - start, width, height } : undefined;
    }
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; // markers without a length
    if (p + 2 > n) return undefined;
    const len = (b[p] << 8) | b[p + 1];
    if (len < 2 || p + len > n) return undefined;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      // SOF: only Huffman baseline, extended and progressive are pictures; SOF3 is lossless raw data.
      if (m !== 0xc0 && m !== 0xc1 && m !== 0xc2) return undefined;
      height = (b[p + 3] << 8) | b[p + 4];
      width = (b[p + 5] << 8) | b[p + 6];
    }
    p += len;
    if (m === 0xda) {
      // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart.
      sawScan = true;
      while (p + 1 < n && !(b[p] === 0xff && b[p + 1] !== 0 && !(b[p + 1] >= 0xd0 && b[p + 1] <= 0xd7))) p++;
      if (p + 1 >= n) return undefined;
    }
  }
  return undefined;
}

/** Every complete picture JPEG embedded in `bytes`, largest first. */
export function findEmbeddedJpegs(bytes: Uint8Array): EmbeddedJpeg[] {
  const found: EmbeddedJpeg[] = [];
  // Skip a leading JPEG-like SOI at 0 only if the whole file is a JPEG (then it is not a RAW).
  for (let i = 0; i + 3 < bytes.length; i++) {
    i = bytes.indexOf(0xff, i);
    if (i < 0 || i + 3 >= bytes.length) break;
    if (bytes[i + 1] !== 0xd8 || bytes[i + 2] !== 0xff) continue;
    const jpeg = parseJpegAt(bytes, i);
    if (jpeg) {
      found.push(jpeg);
      i = jpeg.offset + jpeg.length - 1; // a thumbnail nested in its EXIF is smaller anyway
    }
  }
  return found.sort((a, b) => b.width * b.height - a.width * a.height);
}

export interface RawMetadata {
  /** EXIF orientation 1–8 from the RAW's own IFD0, when it records one. */
  orientation?: number;
  /** A TIFF/EXIF block (for readExifDate) when the RAW is TIFF-based. */
  tiff?: Buffer;
}

/**
 * The TIFF structure of a TIFF-based RAW (DNG, CR2, NEF, ARW, PEF, ...; ORF and RW2 with their magic
 * number put back to TIFF's 42 so a standard reader accepts them). CR3 carries its TIFF blocks in
 * CMT1 (IFD0) and CMT2 (EXIF) boxes; RAF has none (its preview JPEG carries the EXIF).
 */
export function rawMetadata(bytes: Uint8Array): RawMetadata {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = buf.toString('latin1', 0, 4);
  let tiff: Buffer | undefined;
  if (head === 'II*\0' || head === 'MM\0*') tiff = buf;
  else if (head === 'IIRO' || head === 'IIRS' || head === 'IIU\0') {
    tiff = Buffer.from(buf); // a copy: the caller's bytes stay as read
    tiff[2] = 0x2a; tiff[3] = 0;
  } else if (head === 'MMOR') {
    tiff = Buffer.from(buf);
    tiff[2] = 0; tiff[3] = 0x2a;
  } else if (buf.toString('latin1', 4, 12) === 'ftypcrx ') {
    const cmt1 = buf.indexOf('CMT1', 0, 'latin1');
    const cmt2 = buf.indexOf('CMT2', 0, 'latin1');
    let orientation: number | undefined;
    if (cmt1 > 4) {
      const size = buf.readUInt32BE(cmt1 - 4);
      orientation = orientationOf(buf.subarray(cmt1 + 4, cmt1 - 4 + size));
    }
    if (cmt2 > 4) {
      const size = buf.readUInt32BE(cmt2 - 4);
      // CMT2 is the EXIF IFD as its own TIFF; readExifDate looks for it under Photo, so present it so.
      return { orientation, tiff: exifIfdAsPhoto(buf.subarray(cmt2 + 4, cmt2 - 4 + size)) };
    }
    return { orientation };
  }
  if (!tiff) return {};
  return { orientation: orientationOf(tiff), tiff };
}

function orientationOf(tiff: Buffer): number | undefined {
  try {
    const o = exifReader(tiff).Image?.Orientation;
    return typeof o === 'number' && o >= 1 && o <= 8 ? o : undefined;
  } catch {
    return undefined;
  }
}

/** Wraps a bare EXIF-IFD TIFF (CR3's CMT2) so that exif-reader reads it as IFD0 → Photo. */
function exifIfdAsPhoto(tiff: Buffer): Buffer | undefined {
  if (tiff.length < 8) return undefined;
  // A minimal TIFF whose IFD0 has one entry, ExifTag (0x8769), pointing at CMT2's first IFD.
  const le = tiff[0] === 0x49;
  const ifd0At = tiff.length + (tiff.length % 2);
  const out = Buffer.alloc(ifd0At + 18);
  tiff.copy(out);
  const w16 = (v: number, at: number) => (le ? out.writeUInt16LE(v, at) : out.writeUInt16BE(v, at));
  const w32 = (v: number, at: number) => (le ? out.writeUInt32LE(v, at) : out.writeUInt32BE(v, at));
  const firstIfd = le ? tiff.readUInt32LE(4) : tiff.readUInt32BE(4);
  w32(ifd0At, 4);
  w16(1, ifd0At);
  w16(0x8769, ifd0At + 2);
  w16(4, ifd0At + 4);
  w32(1, ifd0At + 6);
  w32(firstIfd, ifd0At + 10);
  w32(0, ifd0At + 14);
  return out;
}
