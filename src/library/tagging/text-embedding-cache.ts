// Text vectors are computed once per model and prompt text, then read from a cache: the catalog's
// `text_embeddings` table when there is a catalog, otherwise one small file per model under the
// user's cache folder (the CLI without --db). Embedding a thousand-prompt vocabulary costs seconds
// on the real model; reading it back costs milliseconds.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../shared/errors.ts';
import type { RetrievalEncoder } from '../../runtime/blip2/retrieval-encoder.ts';
import type { Catalog } from '../catalog/catalog.ts';

export interface TextVectorCache {
  /** The cached vectors of those `texts` that have one for the model. */
  get(modelId: string, texts: readonly string[]): Map<string, Float32Array>;
  put(modelId: string, entries: ReadonlyMap<string, Float32Array>): void;
}

/** The catalog's `text_embeddings` table. */
export function catalogTextCache(catalog: Catalog): TextVectorCache {
  return {
    get: (modelId, texts) => catalog.textEmbeddings(modelId, texts),
    put: (modelId, entries) => catalog.storeTextEmbeddings(modelId, [...entries]),
  };
}

/** `$PHOTO_ASSISTANT_TEXT_CACHE`, else `$XDG_CACHE_HOME/photo-assistant/text-embeddings`, else under ~/.cache. */
export function defaultTextCacheDir(): string {
  if (process.env.PHOTO_ASSISTANT_TEXT_CACHE) return process.env.PHOTO_ASSISTANT_TEXT_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'photo-assistant', 'text-embeddings');
}

// File layout: 'PATE' | u32 LE header length | header JSON {modelId, dim, texts} | zero padding to a
// multiple of 4 | float32 LE vectors in header order. A file that does not parse is treated as empty
// and replaced on the next write: it only ever holds recomputable data.
const MAGIC = 'PATE';

/** One file per model: `<dir>/<readable id>-<hash>.bin`. */
export class FileTextCache implements TextVectorCache {
  constructor(readonly dir = defaultTextCacheDir()) {}

  fileFor(modelId: string): string {
    const readable = modelId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
    const hash = createHash('sha256').update(modelId).digest('hex').slice(0, 12);
    return join(this.dir, `${readable}-${hash}.bin`);
  }

  get(modelId: string, texts: readonly string[]): Map<string, Float32Array> {
    const all = this.readAll(modelId);
    const out = new Map<string, Float32Array>();
    for (const t of texts) {
      const v = all.get(t);
      if (v) out.set(t, v);
    }
    return out;
  }

  put(modelId: string, entries: ReadonlyMap<string, Float32Array>): void {
    if (entries.size === 0) return;
    const dim = entries.values().next().value!.length;
    if ([...entries.values()].some((v) => v.length !== dim)) throw new AppError('invalid_argument', 'text vectors of one model must have one width');
    const all = this.readAll(modelId);
    // Vectors of another width (a model re-exported under the same id) are dropped, not mixed in.
    for (const [t, v] of all) if (v.length !== dim) all.delete(t);
    for (const [t, v] of entries) all.set(t, v);
    const texts = [...all.keys()];
    const header = Buffer.from(JSON.stringify({ modelId, dim, texts }), 'utf8');
    const pad = (4 - ((8 + header.length) % 4)) % 4;
    const data = new Float32Array(texts.length * dim);
    texts.forEach((t, i) => data.set(all.get(t)!, i * dim));
    const prefix = Buffer.alloc(8);
    prefix.write(MAGIC, 0, 'ascii');
    prefix.writeUInt32LE(header.length, 4);
    const bytes = Buffer.concat([prefix, header, Buffer.alloc(pad), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
    const file = this.fileFor(modelId);
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(tmp, bytes);
      renameSync(tmp, file);
    } catch (err) {
      try { unlinkSync(tmp); } catch { /* not created */ }
      throw new AppError('io_error', `cannot write the text embedding cache: ${(err as Error).message}`, { file, cause: err });
    }
  }

  private readAll(modelId: string): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    let b: Buffer;
    try {
      b = readFileSync(this.fileFor(modelId));
    } catch {
      return out; // no cache yet
    }
    try {
      if (b.length < 8 || b.toString('ascii', 0, 4) !== MAGIC) return out;
      const len = b.readUInt32LE(4);
      const h = JSON.parse(b.toString('utf8', 8, 8 + len)) as { modelId?: unknown; dim?: unknown; texts?: unknown };
      const dim = h.dim;
      if (h.modelId !== modelId || !Number.isSafeInteger(dim) || (dim as number) < 1 || !Array.isArray(h.texts)) return out;
      const start = 8 + len + ((4 - ((8 + len) % 4)) % 4);
      const n = h.texts.length;
      if (b.length !== start + n * (dim as number) * 4) return out;
      const data = new Float32Array(b.buffer.slice(b.byteOffset + start, b.byteOffset + b.length));
      h.texts.forEach((t, i) => {
        if (typeof t === 'string') out.set(t, data.slice(i * (dim as number), (i + 1) * (dim as number)));
      });
    } catch {
      out.clear(); // unreadable: recompute
    }
    return out;
  }
}

export interface TextVectorsResult {
  /** One vector per input text, in order. */
  vectors: Float32Array[];
  /** How many distinct texts had to be run through the model (0 on a warm cache). */
  embedded: number;
}

/**
 * The encoder's vectors for `texts`, from `cache` where present and computed (then stored) otherwise.
 * A cached vector of the wrong width (another model under a reused id) counts as missing.
 */
export async function cachedTextVectors(
  encoder: Pick<RetrievalEncoder, 'modelId' | 'embedDim' | 'embedTexts'>,
  texts: readonly string[],
  cache?: TextVectorCache,
): Promise<TextVectorsResult> {
  const unique = [...new Set(texts)];
  const known = new Map<string, Float32Array>();
  for (const [t, v] of cache?.get(encoder.modelId, unique) ?? []) if (v.length === encoder.embedDim) known.set(t, v);
  const missing = unique.filter((t) => !known.has(t));
  if (missing.length) {
    const fresh = await encoder.embedTexts(missing);
    if (fresh.length !== missing.length) throw new AppError('inference_failed', `the model returned ${fresh.length} text vectors for ${missing.length} texts`);
    const entries = new Map(missing.map((t, i) => [t, fresh[i]] as const));
    for (const [t, v] of entries) known.set(t, v);
    cache?.put(encoder.modelId, entries);
  }
  return { vectors: texts.map((t) => known.get(t)!), embedded: missing.length };
}
