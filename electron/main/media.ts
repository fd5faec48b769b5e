// Photos and thumbnails for the renderer, addressed by catalog id (`<media base>thumb/12`,
// `<media base>photo/12`), never by path: the page cannot name a file, only a photo the catalog
// knows. Answers a Web Response, which Electron's protocol.handle returns as is and the e2e harness
// pipes into node:http. Error bodies are short words, never a path.
//   thumb/<id>  the cached upright WebP thumbnail (created on first request)
//   photo/<id>  the original bytes for formats a browser shows (it applies EXIF orientation itself);
//               other formats (HEIC, camera RAW, TIFF, BMP) as an upright WebP rendition of at most
//               4096 px, cached beside the thumbnails by content hash (HEIC decoded on the decoder
//               thread, RAW through its embedded preview: never on this process's main thread)
import { readFile } from 'node:fs/promises';
import { renditionBesideThumbnail } from '../../src/library/thumbnails.ts';
import { sniffImageType } from '../../src/library/scan/sniff.ts';
import { errorCode } from '../../src/shared/errors.ts';
import { parseMediaPath } from '../../src/shared/ipc-contract.ts';
import type { AppService } from './app-service.ts';

/** Formats Chromium displays natively, with their MIME types. */
const BROWSER_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', avif: 'image/avif',
};

export type MediaSource = Pick<AppService, 'photoFile' | 'thumbnailFile'>;

export async function mediaResponse(service: MediaSource, url: URL | string): Promise<Response> {
  let pathname: string;
  try {
    pathname = (typeof url === 'string' ? new URL(url) : url).pathname;
  } catch {
    return plain(400, 'bad media URL');
  }
  // The last two segments are `<kind>/<id>`, whatever prefix the base adds ('/media/' in the harness).
  const target = parseMediaPath(pathname.split('/').filter(Boolean).slice(-2).join('/'));
  if (!target) return plain(400, 'bad media path');

  let path: string;
  try {
    path = service.photoFile(target.photoId).path;
  } catch {
    return plain(404, 'no such photo, or no file of it is present');
  }
  try {
    if (target.kind === 'thumb') return image(await readFile(await service.thumbnailFile(target.photoId)), 'image/webp');
    const type = await sniffImageType(path);
    if (type && BROWSER_TYPES[type]) return image(await readFile(path), BROWSER_TYPES[type]);
    const rendition = await renditionBesideThumbnail(path, await service.thumbnailFile(target.photoId));
    return image(await readFile(rendition), 'image/webp');
  } catch (err) {
    // The sniffer wraps the filesystem's error (AppError io_error, the errno code in `cause`).
    const codes = [(err as NodeJS.ErrnoException).code, ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code];
    if (codes.includes('ENOENT') || codes.includes('EISDIR')) return plain(404, 'the photo file is gone');
    if (errorCode(err) === 'photo_unreadable' || errorCode(err) === undefined) return plain(422, 'the photo cannot be decoded');
    return plain(500, 'the photo cannot be served');
  }
}

function image(bytes: Buffer, type: string): Response {
  // Node's Buffer may sit on a shared pool ArrayBufferLike; the Fetch types want an ArrayBuffer view.
  return new Response(new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength), {
    status: 200,
    headers: { 'content-type': type, 'content-length': String(bytes.byteLength), 'cache-control': 'private, max-age=300', 'x-content-type-options': 'nosniff' },
  });
}

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' } });
}
