// The inference worker's image side, split from worker-service.ts: the retrieval model it may hold
// beside the captioning model, and the per-photo encodings both use. One decode per photo; when the
// two folders have the same vision encoder (visionIsShared: equal fingerprints, sizes, quantization
// and preprocessing) one vision pass feeds the captioning Q-Former and the retrieval image-embeds
// graph, and the retrieval model's own vision session is never even created.
import { stat } from 'node:fs/promises';
import { AppError } from '../shared/errors.ts';
import { type BertTokenizer, loadBertTokenizer } from '../runtime/bert-tokenizer.ts';
import type { Blip2Model, ImageEncoding } from '../runtime/blip2/model.ts';
import { MAX_TEXT_CHARS, retrievalModelId } from '../runtime/blip2/retrieval-encoder.ts';
import { Blip2Retrieval, visionIsShared } from '../runtime/blip2/retrieval-model.ts';
import { type RgbImage, decodeImage, pixelValuesFromRgb } from '../runtime/image/preprocess.ts';
import type { SessionSettings, ort } from '../runtime/session.ts';
import type { Float32Matrix, RetrievalModelInfo } from './protocol.ts';

/** Texts per text-embeds batch: keeps the padded batch small when a large vocabulary is embedded. */
const TEXT_BATCH = 64;
/** Encodings kept per model for follow-up requests on the same photo (each holds the vision output). */
const ENCODING_CACHE_SIZE = 4;

export interface RetrievalEncodingData {
  /** The vision output the features came from (the captioning model's when shared), for ITM. */
  imageEmbeds: ort.Tensor;
  /** L2-normalized query vectors [queries × embedDim]. */
  imageFeatures: Float32Array;
}

/** A loaded retrieval model with its tokenizer (the worker's counterpart of LocalRetrievalEncoder). */
export class RetrievalSlot {
  private constructor(readonly dir: string, readonly model: Blip2Retrieval, private readonly tokenizer: BertTokenizer, readonly modelId: string) {}

  static async load(dir: string, settings: SessionSettings): Promise<RetrievalSlot> {
    const model = await Blip2Retrieval.load(dir, settings, { deferVision: true });
    const tokenizer = await loadBertTokenizer(dir).catch(async (err) => { await model.dispose(); throw err; });
    if (!tokenizer) {
      await model.dispose();
      throw new AppError('tokenizer_missing', 'the retrieval model folder has no tokenizer files (vocab.txt or tokenizer.json)', { file: dir });
    }
    const m = model.manifest;
    return new RetrievalSlot(dir, model, tokenizer, retrievalModelId(dir, m.quantization.weights, m.createdAt));
  }

  get queries(): number { return this.model.manifest.shapes.queries; }
  get embedDim(): number { return this.model.embedDim; }

  info(sharedVision: boolean): RetrievalModelInfo {
    const weights = this.model.manifest.quantization.weights;
    return { dir: this.dir, modelId: this.modelId, weights, queries: this.queries, embedDim: this.embedDim, sharedVision };
  }

  /** Same rules as LocalRetrievalEncoder.tokenize: trimmed, non-empty, clipped before tokenizing. */
  tokenize(text: string, index: number): number[] {
    const clean = text.trim();
    if (!clean) throw new AppError('invalid_argument', `text ${index + 1} is empty`);
    return this.tokenizer.encode(clean.slice(0, MAX_TEXT_CHARS)).ids;
  }

  /** All texts' vectors, row after row [texts × embedDim]; every text is checked before any runs. */
  async embedTexts(texts: readonly string[], signal: AbortSignal): Promise<Float32Array> {
    const ids = texts.map((t, i) => this.tokenize(t, i));
    const out = new Float32Array(texts.length * this.embedDim);
    for (let i = 0; i < ids.length; i += TEXT_BATCH) {
      throwIfAborted(signal);
      const enc = await this.model.encodeTexts(ids.slice(i, i + TEXT_BATCH));
      enc.forEach((e, j) => out.set(e.embeds, (i + j) * this.embedDim));
    }
    return out;
  }

  async itm(imageEmbeds: ort.Tensor, texts: readonly string[], signal: AbortSignal): Promise<number[]> {
    const ids = texts.map((t, i) => this.tokenize(t, i));
    const out: number[] = [];
    for (const t of ids) {
      throwIfAborted(signal);
      out.push((await this.model.itm(imageEmbeds, t)).probMatch);
    }
    return out;
  }

  dispose(): Promise<void> {
    return this.model.dispose();
  }
}

/**
 * Image encodings for the models the worker holds, cached per photo version (path + mtime + size:
 * an edited photo is encoded again), with one decode per request and the vision pass shared when
 * the weights are. `visionRuns` counts every vision encoder run, so a request can report its own.
 */
export class ImageEncodings {
  private caption: Blip2Model | null = null;
  private retrieval: RetrievalSlot | null = null;
  private shared = false;
  private readonly captionCache = new Lru<ImageEncoding>();
  private readonly retrievalCache = new Lru<RetrievalEncodingData>();
  visionRuns = 0;

  /** Call whenever either model changes; cached encodings of the replaced model are dropped. */
  setModels(caption: Blip2Model | null, retrieval: RetrievalSlot | null): void {
    if (caption !== this.caption) this.captionCache.clear();
    if (retrieval !== this.retrieval || caption !== this.caption) this.retrievalCache.clear();
    this.caption = caption;
    this.retrieval = retrieval;
    this.shared = !!caption && !!retrieval && visionIsShared(caption.manifest, retrieval.model.manifest);
  }

  get sharedVision(): boolean {
    return this.shared;
  }

  clear(): void {
    this.captionCache.clear();
    this.retrievalCache.clear();
  }

  /** A photo opened for one request: its cache key and, only if some encoding is missing, one decode. */
  async open(imagePath: string): Promise<PhotoInput> {
    // A failed stat is left to decodeImage, which reports it as photo_unreadable naming the file.
    const key = await stat(imagePath).then((s) => `${s.mtimeMs}:${s.size}:${imagePath}`, () => null);
    let decoded: Promise<RgbImage> | undefined;
    return { key, rgb: () => (decoded ??= decodeImage(imagePath)) };
  }

  /** Vision → Q-Former → projection of the captioning model (vision reused from retrieval when shared). */
  async forCaption(model: Blip2Model, photo: PhotoInput): Promise<ImageEncoding> {
    const hit = this.captionCache.get(photo.key);
    if (hit) return hit;
    const fromRetrieval = this.shared ? this.retrievalCache.get(photo.key)?.imageEmbeds : undefined;
    const imageEmbeds = fromRetrieval ?? (await this.captionVision(model, photo)).imageEmbeds;
    const enc = { imageEmbeds, ...(await model.runQFormer(imageEmbeds)) };
    this.captionCache.set(photo.key, enc);
    return enc;
  }

  /** The retrieval query vectors; when shared, from the captioning model's vision output. */
  async forRetrieval(slot: RetrievalSlot, photo: PhotoInput): Promise<RetrievalEncodingData> {
    const hit = this.retrievalCache.get(photo.key);
    if (hit) return hit;
    let imageEmbeds: ort.Tensor;
    if (this.shared && this.caption) {
      imageEmbeds = this.captionCache.get(photo.key)?.imageEmbeds ?? (await this.captionVision(this.caption, photo)).imageEmbeds;
    } else {
      const pixels = pixelValuesFromRgb(await photo.rgb(), slot.model.manifest.preprocess);
      this.visionRuns++;
      imageEmbeds = (await slot.model.runVision(pixels)).imageEmbeds;
    }
    const enc = { imageEmbeds, imageFeatures: (await slot.model.encodeVisionOutput(imageEmbeds)).imageFeatures };
    this.retrievalCache.set(photo.key, enc);
    return enc;
  }

  private async captionVision(model: Blip2Model, photo: PhotoInput): Promise<{ imageEmbeds: ort.Tensor }> {
    const pixels = pixelValuesFromRgb(await photo.rgb(), model.manifest.preprocess);
    this.visionRuns++;
    return model.runVision(pixels);
  }
}

export interface PhotoInput {
  /** Null when the file could not be stat'ed (then nothing is cached and the decode reports why). */
  key: string | null;
  rgb(): Promise<RgbImage>;
}

/** Insertion-ordered map used as an LRU. */
class Lru<T> {
  private readonly map = new Map<string, T>();
  get(key: string | null): T | undefined {
    if (key === null) return undefined;
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
    }
    return hit;
  }
  set(key: string | null, value: T): void {
    if (key === null) return;
    this.map.set(key, value);
    if (this.map.size > ENCODING_CACHE_SIZE) this.map.delete(this.map.keys().next().value!);
  }
  clear(): void {
    this.map.clear();
  }
}

/** Float32 values → the wire form (base64 of the bytes, host byte order = little-endian in practice). */
export function encodeMatrix(data: Float32Array, rows: number, cols: number): Float32Matrix {
  if (data.length !== rows * cols) throw new AppError('inference_failed', `expected ${rows}×${cols} values, got ${data.length}`);
  return { rows, cols, base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new AppError('cancelled', 'the request was cancelled');
}
