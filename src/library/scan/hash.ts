// The content identity of a photo: SHA-256 of its bytes, streamed in chunks so that a 200 MB RAW
// or a video mistaken for a photo never sits in memory whole. Used as the catalog's key for moved
// and renamed files and as the thumbnail cache key.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { AppError } from '../../shared/errors.ts';

/** Read size: large enough to keep syscalls few, small enough to stay out of the way. */
const CHUNK_BYTES = 1 << 20;

/** Hex SHA-256 of the file's contents. Throws AppError 'io_error' (or 'cancelled' on abort). */
export async function contentHash(path: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
  const hash = createHash('sha256');
  try {
    // Iterating the stream (not piping into the Hash) keeps hash.digest() ours to call, once.
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES, signal: opts.signal })) {
      hash.update(chunk as Buffer);
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') {
      throw new AppError('cancelled', 'hashing was cancelled', { file: path, cause: err });
    }
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new AppError('io_error', `cannot read the file to compute its hash (${code}): ${(err as Error).message}`, {
      file: path,
      cause: err,
    });
  }
  return hash.digest('hex');
}
