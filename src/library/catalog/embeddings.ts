// Photo embeddings (table `embeddings`) and cached text embeddings (table `text_embeddings`) per
// retrieval model. A photo's embedding is its Q query vectors × D dims (32 × 256 for BLIP-2 ViT-g),
// stored compactly:
//   int8 (default): 1 byte per value + one float32 scale per vector, 8,320 bytes per photo. Measured
//     cost vs float32 (test/library/embeddings.test.ts: 200 random 32 × 256 photos × 50 texts, the
//     max-over-queries ITC score): max |Δscore| = 1.8e-3 — far below the ~0.1 gaps between related and
//     unrelated texts, so rankings only swap between photos that are practically tied.
//   f16: 2 bytes per value (16,384 bytes per photo), max |Δscore| = 5.7e-5 on the same data.
// Text vectors are few and small (queries, tag prompts), so they are kept as float32.
// Blobs are the typed arrays' bytes in the machine's order (little-endian on every platform we ship).
import { AppError } from '../../shared/errors.ts';
import { type Int8Vectors, decodeF16, dequantizeInt8, encodeF16, quantizeInt8 } from './embedding-codec.ts';
import { type Ctx, immediate, requireRow, stmt } from './connection.ts';

export type EmbeddingStorage = 'f16' | 'int8';
export const DEFAULT_EMBEDDING_STORAGE: EmbeddingStorage = 'int8';

export interface EmbeddingShape {
  queries: number;
  dim: number;
  storage?: EmbeddingStorage;
}

/** One stored row as it is on disk, for loading a search index without a float32 round trip. */
export interface StoredEmbedding {
  photoId: number;
  modelId: string;
  storage: EmbeddingStorage;
  queries: number;
  dim: number;
  createdAt: number;
  /** storage 'int8': the stored codes and per-vector scales. */
  int8?: Int8Vectors;
  /** storage 'f16': the stored values decoded to float32. */
  f32?: Float32Array;
}

/** A photo that needs an embedding and a path where its file is present now. */
export interface PhotoToEmbed {
  photoId: number;
  path: string;
}

interface EmbeddingRow {
  photo_id: number;
  model_id: string;
  storage: EmbeddingStorage;
  queries: number;
  dim: number;
  data: Buffer;
  scales: Buffer | null;
  created_at: number;
}

const F16_MAX = 65504;

/** Stores (or replaces) the photo's embedding for `modelId`. */
export function setEmbedding(ctx: Ctx, photoId: number, modelId: string, vectors: Float32Array, shape: EmbeddingShape): void {
  const storage = shape.storage ?? DEFAULT_EMBEDDING_STORAGE;
  checkModelId(modelId);
  const { queries, dim } = shape;
  if (!Number.isSafeInteger(queries) || queries < 1 || !Number.isSafeInteger(dim) || dim < 1) {
    throw new AppError('invalid_argument', `embedding of photo ${photoId}: queries and dim must be positive integers, got ${queries} and ${dim}`);
  }
  if (storage !== 'int8' && storage !== 'f16') throw new AppError('invalid_argument', `embedding storage must be int8 or f16, got ${JSON.stringify(storage)}`);
  if (!(vectors instanceof Float32Array)) throw new AppError('invalid_argument', `embedding of photo ${photoId} must be a Float32Array`);
  if (vectors.length !== queries * dim) {
    throw new AppError('invalid_argument', `embedding of photo ${photoId} has ${vectors.length} values, expected ${queries} × ${dim} = ${queries * dim}`);
  }
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    if (!Number.isFinite(v)) throw new AppError('invalid_argument', `embedding of photo ${photoId} has a non-finite value (${v}) at ${i}`);
    if (storage === 'f16' && Math.abs(v) > F16_MAX) throw new AppError('invalid_argument', `embedding of photo ${photoId} has ${v} at ${i}, beyond fp16 range`);
  }
  let data: Buffer;
  let scales: Buffer | null = null;
  if (storage === 'int8') {
    const q = quantizeInt8(vectors, dim);
    data = bytesOf(q.codes);
    scales = bytesOf(q.scales);
  } else {
    data = bytesOf(encodeF16(vectors));
  }
  immediate(ctx.db, () => {
    requireRow(ctx, 'photos', photoId);
    stmt(ctx.db, `INSERT INTO embeddings (photo_id, model_id, storage, queries, dim, data, scales, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (photo_id, model_id) DO UPDATE SET storage = excluded.storage, queries = excluded.queries, dim = excluded.dim,
        data = excluded.data, scales = excluded.scales, created_at = excluded.created_at`)
      .run(photoId, modelId, storage, queries, dim, data, scales, ctx.now());
  });
}

/** The photo's embedding decoded to float32 [queries × dim], or undefined when it has none yet. */
export function embedding(ctx: Ctx, photoId: number, modelId: string): Float32Array | undefined {
  const stored = storedEmbedding(ctx, photoId, modelId);
  return stored && decodeStored(stored);
}

/** The photo's stored row (codes as stored), or undefined. */
export function storedEmbedding(ctx: Ctx, photoId: number, modelId: string): StoredEmbedding | undefined {
  const row = stmt<EmbeddingRow>(ctx.db, 'SELECT * FROM embeddings WHERE photo_id = ? AND model_id = ?').get(photoId, modelId);
  return row && toStored(row);
}

export function hasEmbedding(ctx: Ctx, photoId: number, modelId: string): boolean {
  return stmt(ctx.db, 'SELECT 1 FROM embeddings WHERE photo_id = ? AND model_id = ?').get(photoId, modelId) !== undefined;
}

/**
 * Every embedding of the model in photo id order, read `pageSize` rows at a time. Pages rather than
 * one open cursor: better-sqlite3 forbids other statements on the connection while iterating, and the
 * caller may write in between (a 100k-photo load takes a moment).
 */
export function* embeddingsOf(ctx: Ctx, modelId: string, pageSize = 512): Generator<StoredEmbedding> {
  let after = 0;
  for (;;) {
    const rows = stmt<EmbeddingRow>(ctx.db, 'SELECT * FROM embeddings WHERE model_id = ? AND photo_id > ? ORDER BY photo_id LIMIT ?')
      .all(modelId, after, pageSize);
    for (const r of rows) yield toStored(r);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1].photo_id;
  }
}

export function embeddingCount(ctx: Ctx, modelId: string): number {
  return stmt<{ n: number }>(ctx.db, 'SELECT count(*) AS n FROM embeddings WHERE model_id = ?').get(modelId)!.n;
}

const WITHOUT = `FROM photos p
  WHERE p.state = 'active'
    AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.photo_id = p.id AND e.model_id = @model)
    AND EXISTS (SELECT 1 FROM photo_files f WHERE f.photo_id = p.id AND f.state = 'present')`;

/**
 * Active photos with a file present now and no embedding for the model, in id order after `afterId`
 * (a cursor, so a run that skips a failing photo does not meet it again). Offline photos wait.
 */
export function photosWithoutEmbedding(ctx: Ctx, modelId: string, limit: number, afterId = 0): PhotoToEmbed[] {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new AppError('invalid_argument', `limit must be a positive integer, got ${limit}`);
  return stmt<{ id: number; path: string }>(ctx.db, `SELECT p.id,
      (SELECT f.path FROM photo_files f WHERE f.photo_id = p.id AND f.state = 'present' ORDER BY f.seen_at DESC, f.path LIMIT 1) AS path
    ${WITHOUT} AND p.id > @after ORDER BY p.id LIMIT @limit`)
    .all({ model: modelId, after: afterId, limit })
    .map((r) => ({ photoId: r.id, path: r.path }));
}

export function missingEmbeddingCount(ctx: Ctx, modelId: string): number {
  return stmt<{ n: number }>(ctx.db, `SELECT count(*) AS n ${WITHOUT}`).get({ model: modelId })!.n;
}

export function decodeStored(e: StoredEmbedding): Float32Array {
  if (e.f32) return e.f32;
  return dequantizeInt8(e.int8!);
}

function toStored(r: EmbeddingRow): StoredEmbedding {
  const base = { photoId: r.photo_id, modelId: r.model_id, storage: r.storage, queries: r.queries, dim: r.dim, createdAt: r.created_at };
  const n = r.queries * r.dim;
  if (r.storage === 'int8') {
    const codes = new Int8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    const scales = r.scales ? aligned(r.scales, Float32Array) : new Float32Array(0);
    if (codes.length !== n || scales.length !== r.queries) throw corrupt(r);
    return { ...base, int8: { codes, scales, dim: r.dim } };
  }
  const bits = aligned(r.data, Uint16Array);
  if (bits.length !== n) throw corrupt(r);
  return { ...base, f32: decodeF16(bits) };
}

function corrupt(r: EmbeddingRow): AppError {
  return new AppError('io_error', `the stored embedding of photo ${r.photo_id} (${r.model_id}) does not match its recorded shape ${r.queries} × ${r.dim}`);
}

// --- text embeddings ------------------------------------------------------------------------------

/** The cached vectors of those `texts` that have one for the model (exact text match). */
export function textEmbeddings(ctx: Ctx, modelId: string, texts: readonly string[]): Map<string, Float32Array> {
  checkModelId(modelId);
  const out = new Map<string, Float32Array>();
  const get = stmt<{ vector: Buffer }>(ctx.db, 'SELECT vector FROM text_embeddings WHERE model_id = ? AND text = ?');
  for (const t of texts) {
    if (typeof t !== 'string' || out.has(t)) continue;
    const row = get.get(modelId, t);
    if (row) out.set(t, aligned(row.vector, Float32Array));
  }
  return out;
}

/** Caches text vectors for the model (replacing earlier ones), in one transaction. */
export function storeTextEmbeddings(ctx: Ctx, modelId: string, entries: readonly (readonly [string, Float32Array])[]): void {
  checkModelId(modelId);
  for (const [text, v] of entries) {
    if (typeof text !== 'string' || text === '') throw new AppError('invalid_argument', 'a cached text embedding needs a non-empty text');
    if (!(v instanceof Float32Array) || v.length === 0) throw new AppError('invalid_argument', `the embedding of text "${clip(text)}" must be a non-empty Float32Array`);
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new AppError('invalid_argument', `the embedding of text "${clip(text)}" has a non-finite value at ${i}`);
    }
  }
  immediate(ctx.db, () => {
    const put = stmt(ctx.db, 'INSERT INTO text_embeddings (model_id, text, vector) VALUES (?, ?, ?) ON CONFLICT (model_id, text) DO UPDATE SET vector = excluded.vector');
    for (const [text, v] of entries) put.run(modelId, text, bytesOf(v));
  });
}

// --- helpers --------------------------------------------------------------------------------------

function checkModelId(modelId: string): void {
  if (typeof modelId !== 'string' || modelId === '') throw new AppError('invalid_argument', 'an embedding needs the id of the model that made it');
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);

function bytesOf(a: Int8Array | Uint16Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A typed view of a blob, copied when the Buffer's offset is not aligned for the element size. */
function aligned<T extends Float32Array | Uint16Array>(b: Buffer, Ctor: { new (buf: ArrayBuffer, off: number, len: number): T; new (buf: ArrayBuffer): T; BYTES_PER_ELEMENT: number }): T {
  const size = Ctor.BYTES_PER_ELEMENT;
  if (b.byteLength % size !== 0) throw new AppError('io_error', `a stored vector has ${b.byteLength} bytes, not a multiple of ${size}`);
  if (b.byteOffset % size === 0) return new Ctor(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / size);
  return new Ctor(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
}
