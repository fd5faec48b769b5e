// The XMP packet embedded in an image file, read on import so captions and keywords a user already
// gave a photo in another tool are picked up. libvips (via sharp) finds XMP in JPEG, PNG, WebP,
// TIFF, HEIF and more; when it cannot open the file at all (a truncated JPEG, say) we still walk
// the JPEG segments ourselves, since the APP1 packet sits before the damaged image data.
// Not read: JPEG Extended XMP (the GUID-linked overflow segments), which only carries data too
// large for one segment, such as Photoshop's history; dc:description and dc:subject stay in the main one.
import { open } from 'node:fs/promises';
import sharp from 'sharp';
import { AppError } from '../../shared/errors.ts';
import { readXmp, type XmpFields } from './xmp-read.ts';

const XMP_APP1_HEADER = Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1');

/**
 * The library's fields from the XMP embedded in `imagePath`, or undefined when there is none or it
 * is not well-formed (a broken camera packet must not fail an import). Throws
 * AppError('photo_unreadable') only when the file itself cannot be read.
 */
export async function readEmbeddedXmp(imagePath: string): Promise<XmpFields | undefined> {
  const packet = await embeddedXmpPacket(imagePath);
  if (packet === undefined) return undefined;
  try {
    return readXmp(packet, imagePath);
  } catch (err) {
    if (err instanceof AppError && err.code === 'invalid_argument') return undefined;
    throw err;
  }
}

/** The raw XMP packet text embedded in `imagePath`, if any. */
export async function embeddedXmpPacket(imagePath: string): Promise<string | undefined> {
  let fromSharp: Buffer | undefined;
  try {
    fromSharp = (await sharp(imagePath).metadata()).xmp;
  } catch {
    fromSharp = undefined; // not a format libvips opens, or damaged: try the JPEG walk below
  }
  const buf = fromSharp ?? (await jpegApp1Xmp(imagePath));
  return buf && buf.length ? decodePacket(buf) : undefined;
}

// XMP allows UTF-16/32 packets (rare, but legal); some writers pad the packet with NULs.
function decodePacket(buf: Buffer): string {
  let text: string;
  if (buf[0] === 0xfe && buf[1] === 0xff) text = Buffer.from(buf.subarray(2)).swap16().toString('utf16le');
  else if (buf[0] === 0xff && buf[1] === 0xfe) text = buf.subarray(2).toString('utf16le');
  else text = buf.toString('utf8');
  return text.replace(/\0+$/, '');
}

/** Walk JPEG marker segments up to the image data, returning the standard XMP APP1 payload. */
async function jpegApp1Xmp(path: string): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : String(err);
    throw new AppError('photo_unreadable', `cannot read photo ${path}: ${why}`, { file: path, cause: err });
  }
  try {
    const head = Buffer.alloc(4);
    const readAt = async (pos: number, len: number): Promise<Buffer> => {
      const b = len <= head.length ? head : Buffer.alloc(len);
      const { bytesRead } = await fh.read(b, 0, len, pos);
      return b.subarray(0, bytesRead);
    };
    const soi = await readAt(0, 2);
    if (soi.length < 2 || soi[0] !== 0xff || soi[1] !== 0xd8) return undefined;
    let pos = 2;
    for (;;) {
      const h = await readAt(pos, 4);
      if (h.length < 2 || h[0] !== 0xff) return undefined;
      const marker = h[1];
      if (marker === 0xff) { pos += 1; continue; } // fill byte before a marker
      if (marker === 0xd9 || marker === 0xda) return undefined; // end of image / start of scan
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { pos += 2; continue; } // no length
      if (h.length < 4) return undefined;
      const len = h.readUInt16BE(2);
      if (len < 2) return undefined;
      if (marker === 0xe1 && len - 2 > XMP_APP1_HEADER.length) {
        const body = await readAt(pos + 4, len - 2);
        if (body.subarray(0, XMP_APP1_HEADER.length).equals(XMP_APP1_HEADER)) return body.subarray(XMP_APP1_HEADER.length);
      }
      pos += 2 + len;
    }
  } finally {
    await fh.close();
  }
}
